package extract

import (
	"testing"

	"recall/internal/duedate"
)

// TestItemRules holds one case per rule of the second round of tuning:
// each names the rule it pins, and what the item (or its absence) must be.
func TestItemRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []wantItem
	}{
		// What is not a task.
		{"quoted mail is superseded", "Hi Raj,\n\nI'll send the quote by Friday.\n\nHannah\n\n> On 17 Mar 2026, Raj Patel <raj@example.com> wrote:\n> can you send me the renewal quote?",
			[]wantItem{{"Send the quote", "", "2026-03-13"}}},
		{"original message is superseded", "Hi Ilse,\n\nCould you send us the list of stores?\n\n-----Original Message-----\nFrom: Ilse\n\nPlease tell me who is accountable.",
			[]wantItem{{"Send us the list of stores", "Ilse", ""}}},
		{"an answer between quotes is new", "> can you send me the quote?\n\nI'll send it by Friday.\n\n> and the DPA?\n\nLegal will send the DPA tomorrow.",
			[]wantItem{{"Send the DPA", "Legal", "2026-03-11"}}},
		{"a bot's prompt", "[09:00] standup-bot: Reply with yesterday / today / blockers\n[09:01] amelia: I'll review the PR today", []wantItem{{"Review the PR", "amelia", "2026-03-10"}}},
		{"a condition the reader decides", "If you can take one of these, reply to this email.", nil},
		{"a conditional commitment", "If they are not found by Friday, we will issue a full credit.", nil},
		{"an optional request", "Please comment on the doc by Tuesday if you disagree.", nil},
		{"an offer to take one", "- Reply if you can take one of them", nil},
		{"if you can, politely", "- Please send the slides by Friday if you can", []wantItem{{"Send the slides if you can", "", "2026-03-13"}}},
		{"a polite if is a request", "We would be grateful if you could return the signed copy.", []wantItem{{"Return the signed copy", "", ""}}},
		{"a polite request in a letter", "Dear Mr. Halvorsen,\n\nWe would be grateful if you could return the signed copy no later than 15 June 2026, so that the services can commence on 1 July.\n\nYours sincerely,\nClara",
			[]wantItem{{"Return the signed copy", "Mr. Halvorsen", "2026-06-15"}}},
		{"a condition of the task", "- page Petra if the error rate goes above 2%", []wantItem{{"Page Petra if the error rate goes above 2%", "", ""}}},
		{"asking to be told something", "Agent: Could you tell me which workspace this is for?\nCustomer: emea", nil},
		{"asking to be told when", "Customer: Will you let me know when the fix is deployed?\nAgent: sure", []wantItem{{"Let Customer know when the fix is deployed", "Agent", ""}}},
		{"please and a name answers an offer", "Amara: happy to book it\nJess: yes pls Amara!", nil},
		{"steering the meeting", "Valentina: Let's start with the numbers.", nil},
		{"nothing to do", "Things to do\n- Billing batch runs on 2 Jan; nothing to do unless it fails.", nil},
		{"a stand-up plan", "Aisha:\n- Today: address review comments, then start on push settings", nil},

		{"options weighed", "We looked at three options:\n1. Keep sending inline with a retry queue.\n2. Publish to Kafka and have a consumer send.\n\nWe chose the outbox.", nil},
		{"a timeline", "## Timeline (UTC)\n- 14:20 Hyun-woo escalates to payments on-call (Bianca).\n- 14:41 Rollback deployed.", nil},
		{"a risk is a forecast", "## Risks\n- Alerts will add load on the query service.", nil},
		{"a person under risks", "## Risks\n- The connector may slip. Priya will chase the partner by Friday.", []wantItem{{"Chase the partner", "Priya", "2026-03-13"}}},

		// The text says what to do; the item carries the date.
		{"a remark after the task", "- Remove the old endpoint this week, it's a small change", []wantItem{{"Remove the old endpoint", "", "2026-03-13"}}},
		{"a remark in brackets", "Things we need from you:\n- Confirmation of the seat count (you mentioned it might go up to 275)", []wantItem{{"Confirmation of the seat count", "", ""}}},
		{"a statement after the task", "- I'll place the order on Friday; lead time is 5 weeks", []wantItem{{"Place the order", "", "2026-03-13"}}},
		{"a deadline in the middle", "- Finalise the copy by Monday and send it to legal", []wantItem{{"Finalise the copy and send it to legal", "", "2026-03-16"}}},
		{"a date that is no deadline stays", "- Book the flights tonight before prices go up", []wantItem{{"Book the flights tonight before prices go up", "", "2026-03-10"}}},
		{"a slot is no due date", "- Schedule the episode for Thu 26 March, 6am", []wantItem{{"Schedule the episode for Thu 26 March, 6am", "", ""}}},
		{"a deadline after for is one", "- Get the slides ready for Monday", []wantItem{{"Get the slides ready for Monday", "", "2026-03-16"}}},

		// Dates a person reads from around the task.
		{"before then", "- Fatima: the invoice run happens tomorrow. Fatima to double-check the billing job before then.", []wantItem{{"Double-check the billing job before then", "Fatima", "2026-03-10"}}},
		{"until then is no deadline", "Customer: the fix ships on Friday. I'll pause the dashboard refresh until then.\nAgent: ok", []wantItem{{"Pause the dashboard refresh until then", "Customer", ""}}},
		{"before the next review", "## Action items\n- Farah — find an owner for the dead-letter view before the next review\n\nNext review: 4 May.", []wantItem{{"Find an owner for the dead-letter view before the next review", "Farah", "2026-05-03"}}},
		{"two dates for one event date nothing", "## Action items\n- Bo — bring the numbers to the sync\n\nSync on Monday, or else the sync on Friday.", []wantItem{{"Bring the numbers to the sync", "Bo", ""}}},
		{"tied to a dated release", "Release: 0.15.1 planned for Friday. @tobias please tag it once #4521 is merged.", []wantItem{{"Release: 0.15.1 planned for Friday — tag it once #4521 is merged", "tobias", "2026-03-13"}}},

		// Who takes a task without being a person's name.
		{"a capitalised team", "Logistics Ops will confirm by tomorrow whether the pallets are in Antwerp.", []wantItem{{"Confirm whether the pallets are in Antwerp", "Logistics Ops", "2026-03-11"}}},
		{"a title", "Our Data Protection Officer will send the updated addendum by the end of this week.", []wantItem{{"Send the updated addendum", "Data Protection Officer", "2026-03-13"}}},
		{"our team", "Our support team will also schedule the migration workshop once the order is in.", []wantItem{{"Schedule the migration workshop once the order is in", "", ""}}},
		{"the team of others is news", "The platform team will present the new pipeline at the all-hands.", nil},
		{"a name's squad", "- Ravi's squad owns this; first milestone in 4 weeks.", []wantItem{{"Ravi's squad owns this; first milestone", "Ravi", "2026-04-07"}}},
		{"all of a group", "- All subcontractors must send updated RAMS before starting new work", []wantItem{{"Send updated RAMS before starting new work", "", ""}}},
		{"passive with a name", "- Security review to be requested by Hana by 15 June.", []wantItem{{"Security review to be requested by Hana", "Hana", "2026-06-15"}}},

		{"a letter's sign-off names its writer", "Hi Sophie,\n\nI'll place the order on Friday.\n\nBest,\nOwen", []wantItem{{"Place the order", "Owen", "2026-03-13"}}},
		{"a topic over a line is no speaker", "Hi Sophie,\n\nWhere we landed:\n\n- Cabinets: I'll place the order on Friday.\n- Worktop: the fabricator comes once the cabinets are in.\n- Flooring: still open.\n\nBest,\nOwen", []wantItem{{"Place the order", "Owen", "2026-03-13"}}},

		// Tasks listed as noun phrases, waiting for an owner.
		{"a list of unclaimed tasks", "Two things nobody has picked up yet:\n- the webinar slot with the partner team (needs a date and a speaker)\n- a customer quote for the press release\n\nReply if you can take one.",
			[]wantItem{{"The webinar slot with the partner team", "", ""}, {"A customer quote for the press release", "", ""}}},

		{"a task after a name and a colon", "Team,\n\nAhmed, you're on the press list: update it and draft the embargo email by Wednesday.", []wantItem{{"You're on the press list: update it and draft the embargo email", "Ahmed", "2026-03-11"}}},
		{"a name and a statement", "Team,\n\nAhmed, the press list is done: thanks.", nil},

		{"a date of the context dates nothing", "Hi Sophie,\n\n- Electrics: Gareth can do Tuesday 16 June, can you confirm that works?\n\nBest,\nOwen", []wantItem{{"Electrics: Gareth can do Tuesday 16 June — confirm that works", "Sophie", ""}}},
		{"a deadline of the context dates the task", "pat: the auditors want the register by 20 March. I can pull it together next week\nlee: thanks", []wantItem{{"The auditors want the register — pull it together next week", "pat", "2026-03-20"}}},

		{"a task said twice", "Emma: can you cc me? I need to update the forecast\nHaruto: of course\nEmma: I'll update the Q3 forecast once I have it, by end of next week at the latest",
			[]wantItem{{"Cc Emma", "Haruto", ""}, {"Update the Q3 forecast once I have it", "Emma", "2026-03-20"}}},

		// Hand-offs.
		{"that's on you", "Hi Sophie,\n\nThe old cupboard needs to be cleared before the strip-out. That's on you I'm afraid!\n\nBest,\nOwen", []wantItem{{"The old cupboard needs to be cleared before the strip-out", "Sophie", ""}}},
		{"someone said they'd do it", "ppl: kasia, li wei\n\n- we need to order more serum, we're down to 2 bottles. li wei said she'd do it", []wantItem{{"Order more serum, we're down to 2 bottles", "li wei", ""}}},
		{"yes, and how", "Val: Kai, can you schedule the failover test?\nKai: Yes. I'll pick a date with the database team.\nFemi: ok", []wantItem{{"Schedule the failover test", "Kai", ""}}},

		// Who "you" and "him" are.
		{"you in a commitment", "Femi: I'd like to know the date in advance.\nKai: I'll loop you in when I have it.\nVal: great", []wantItem{{"Loop Femi in when I have it", "Kai", ""}}},
		{"him as an object", "Val: Does Dmitri know?\nAmina: I messaged him, no reply yet. I'll follow up with him tomorrow.\nVal: good", []wantItem{{"Follow up with Dmitri", "Amina", "2026-03-11"}}},
		{"her as a possessive stays", "Val: Dana's laptop died.\nAmina: I'll fix her laptop tomorrow.\nVal: thanks", []wantItem{{"Fix her laptop", "Amina", "2026-03-11"}}},

		// An offer put as a question, accepted.
		{"should I, yes please", "Kyle: should I also add the churn slide?\nMarisa: yes please", []wantItem{{"Add the churn slide", "Kyle", ""}}},
		{"should I, no", "Kyle: should I also add the churn slide?\nMarisa: no, it's fine", nil},

		// Offers and commitments.
		{"happy to", "Amara: I booked the tour last time, happy to sort the tour again\nJess: yes!", []wantItem{{"I booked the tour last time — sort the tour again", "Amara", ""}}},
		{"i can have it ready", "Kai: I can have autoscaling on consumer lag in place by the 15th.\nVal: great", []wantItem{{"Have autoscaling on consumer lag in place", "Kai", "2026-03-15"}}},
		{"a stand-up commitment", "priscila: t: will get the migration reviewed and merged today. b: none\njonas: t: pairing", []wantItem{{"Get the migration reviewed and merged", "priscila", "2026-03-10"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := itemsOf(t, tt.in, itemsRef, duedate.Options{})
			if len(got) != len(tt.want) {
				t.Fatalf("items of %q:\n got %q\nwant %q", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("item %d of %q:\n got %q\nwant %q", i, tt.in, got[i], tt.want[i])
				}
			}
		})
	}
}

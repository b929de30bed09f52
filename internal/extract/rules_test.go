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
			[]wantItem{{"Send the quote by Friday", "", "2026-03-13"}}},
		{"original message is superseded", "Hi Ilse,\n\nCould you send us the list of stores?\n\n-----Original Message-----\nFrom: Ilse\n\nPlease tell me who is accountable.",
			[]wantItem{{"Send us the list of stores", "Ilse", ""}}},
		{"an answer between quotes is new", "> can you send me the quote?\n\nI'll send it by Friday.\n\n> and the DPA?\n\nLegal will send the DPA tomorrow.",
			[]wantItem{{"Send the DPA tomorrow", "Legal", "2026-03-11"}}},
		{"a bot's prompt", "[09:00] standup-bot: Reply with yesterday / today / blockers\n[09:01] amelia: I'll review the PR today", []wantItem{{"Review the PR today", "amelia", "2026-03-10"}}},
		{"a condition the reader decides", "If you can take one of these, reply to this email.", nil},
		{"a conditional commitment", "If they are not found by Friday, we will issue a full credit.", nil},
		{"an optional request", "Please comment on the doc by Tuesday if you disagree.", nil},
		{"a polite if is a request", "We would be grateful if you could return the signed copy.", []wantItem{{"We would be grateful if you could return the signed copy", "", ""}}},
		{"a condition of the task", "- page Petra if the error rate goes above 2%", []wantItem{{"Page Petra if the error rate goes above 2%", "", ""}}},
		{"asking to be told something", "Agent: Could you tell me which workspace this is for?\nCustomer: emea", nil},
		{"asking to be told when", "Customer: Will you let me know when the fix is deployed?\nAgent: sure", []wantItem{{"Let Customer know when the fix is deployed", "Agent", ""}}},
		{"please and a name answers an offer", "Amara: happy to book it\nJess: yes pls Amara!", nil},
		{"steering the meeting", "Valentina: Let's start with the numbers.", nil},
		{"nothing to do", "Things to do\n- Billing batch runs on 2 Jan; nothing to do unless it fails.", nil},
		{"a stand-up plan", "Aisha:\n- Today: address review comments, then start on push settings", nil},

		// Who takes a task without being a person's name.
		{"a capitalised team", "Logistics Ops will confirm by tomorrow whether the pallets are in Antwerp.", []wantItem{{"Confirm by tomorrow whether the pallets are in Antwerp", "Logistics Ops", "2026-03-11"}}},
		{"a title", "Our Data Protection Officer will send the updated addendum by the end of this week.", []wantItem{{"Send the updated addendum by the end of this week", "Data Protection Officer", "2026-03-13"}}},
		{"our team", "Our support team will also schedule the migration workshop once the order is in.", []wantItem{{"Schedule the migration workshop once the order is in", "", ""}}},
		{"the team of others is news", "The platform team will present the new pipeline at the all-hands.", nil},
		{"a name's squad", "- Ravi's squad owns this; first milestone in 4 weeks.", []wantItem{{"Ravi's squad owns this; first milestone in 4 weeks", "Ravi", "2026-04-07"}}},
		{"all of a group", "- All subcontractors must send updated RAMS before starting new work", []wantItem{{"Send updated RAMS before starting new work", "", ""}}},
		{"passive with a name", "- Security review to be requested by Hana by 15 June.", []wantItem{{"Security review to be requested by Hana by 15 June", "Hana", "2026-06-15"}}},

		// Offers and commitments.
		{"happy to", "Amara: I booked the tour last time, happy to sort the tour again\nJess: yes!", []wantItem{{"I booked the tour last time — sort the tour again", "Amara", ""}}},
		{"i can have it ready", "Kai: I can have autoscaling on consumer lag in place by the 15th.\nVal: great", []wantItem{{"Have autoscaling on consumer lag in place by the 15th", "Kai", "2026-03-15"}}},
		{"a stand-up commitment", "priscila: t: will get the migration reviewed and merged today. b: none\njonas: t: pairing", []wantItem{{"Get the migration reviewed and merged today", "priscila", "2026-03-10"}}},
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

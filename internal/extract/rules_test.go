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

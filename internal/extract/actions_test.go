package extract

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestActionItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		// First-person commitments.
		{"i will", "I will send the deck tomorrow.", []string{"I will send the deck tomorrow"}},
		{"i'll with curly apostrophe", "I’ll update the runbook.", []string{"I’ll update the runbook"}},
		{"i'm going to", "I'm going to rerun the migration tonight.", []string{"I'm going to rerun the migration tonight"}},
		{"i can take it", "Sure, I can take the rollback.", []string{"I can take the rollback"}},
		{"let me", "Let me check the logs.", []string{"Let me check the logs"}},
		{"subject dropped in notes", "- Will write a failing test today", []string{"Will write a failing test today"}},
		// The group.
		{"we need to", "We need to rotate the API keys.", []string{"We need to rotate the API keys"}},
		{"we should", "I think we should add an alert on pool saturation.", []string{"I think we should add an alert on pool saturation"}},
		{"let's", "Let's sync on Thursday.", []string{"Let's sync on Thursday"}},
		{"passive need", "The docs need to be updated before launch.", []string{"The docs need to be updated before launch"}},
		// Requests.
		{"please", "Please restart the worker.", []string{"Please restart the worker"}},
		{"can you", "Can you review PR 482?", []string{"Can you review PR 482?"}},
		{"could you please", "Could you please reconnect QuickBooks?", []string{"Could you please reconnect QuickBooks?"}},
		{"mention with a verb", "@dana review the copy when you can.", []string{"@dana review the copy when you can"}},
		{"mention with to", "@lee to draft the announcement.", []string{"@lee to draft the announcement"}},
		// Named owners.
		{"name will", "Bob will update the runbook.", []string{"Bob will update the runbook"}},
		{"two names", "Alice and Bob will pair on the fix.", []string{"Alice and Bob will pair on the fix"}},
		{"name to", "Carol to schedule the retro.", []string{"Carol to schedule the retro"}},
		{"team will", "Marketing will announce the launch.", []string{"Marketing will announce the launch"}},
		{"name needs to", "Dana needs to sign off on the budget.", []string{"Dana needs to sign off on the budget"}},
		// Task markup.
		{"todo label", "TODO: rotate the keys", []string{"Rotate the keys"}},
		{"todo lower case", "todo - fix the flaky test", []string{"Fix the flaky test"}},
		{"todo with owner", "TODO(alice): fix the flaky test", []string{"alice: Fix the flaky test"}},
		{"action item label", "Action item: Bob to book a room", []string{"Bob to book a room"}},
		{"ai label", "AI: Carol - schedule the retro", []string{"Carol - schedule the retro"}},
		{"action label", "Action: renew the TLS certificate", []string{"Renew the TLS certificate"}},
		{"inline list of tasks", "Action items: Alice to send the notes; Bob to book the room", []string{"Alice to send the notes", "Bob to book the room"}},
		{"open checkbox", "- [ ] Write the migration plan", []string{"Write the migration plan"}},
		{"checked checkbox", "- [x] Create the channel", nil},
		{"next steps section", "Next steps:\n- Draft the FAQ\n- Ping legal about the DPA", []string{"Draft the FAQ", "Ping legal about the DPA"}},
		{"imperative bullet", "- Update the status page", []string{"Update the status page"}},
		{"imperative with a due date", "Send the invoice by Friday.", []string{"Send the invoice by Friday"}},
		// Speakers own what they say.
		{"speaker kept as owner", "Alice: I will send the deck\nBob: thanks", []string{"Alice: I will send the deck"}},
		{"speaker and filler", "[10:02] Sam: ok so I'll post an update on the status page", []string{"Sam: I'll post an update on the status page"}},
		{"only the committing sentence", "Alice: Sounds good. I'll send the deck by Friday.\nBob: great", []string{"Alice: I'll send the deck by Friday"}},
		{"meta label dropped", "Reminder: I'll send the draft to finance by Friday.", []string{"I'll send the draft to finance by Friday"}},
		// Not commitments.
		{"out of office", "I will be out on Friday.", nil},
		{"we should be fine", "We should be fine after the patch.", nil},
		{"question to the group", "Should we roll back?", nil},
		{"question about need", "Do we need to roll back?", nil},
		{"negated need", "We don't need to change anything.", nil},
		{"no need", "There is no need to restart it.", nil},
		{"will not", "I will not attend the sync.", nil},
		{"we'll see", "We'll see how it goes.", nil},
		{"forecast", "Latency will improve once the cache lands.", nil},
		{"status", "The deploy finished at noon.", nil},
		{"past tense", "We decided to ship on Friday.", nil},
		{"polite closing", "Please let me know if you have questions.", nil},
		{"please note", "Please note that the office is closed.", nil},
		{"let's see", "Let's see what happens.", nil},
		{"noun after verb", "- Test coverage is at 80%", nil},
		{"review of", "- Review of the Q3 numbers", nil},
		{"did you", "Did you see the email?", nil},
		{"will do", "Alex: yep, will do\nSam: thanks", nil},
		{"prose imperative without context", "Check the numbers.", nil},
		{"decision section", "## Decisions\n- We will render PDFs in a worker.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := analyze("", tt.in).ActionItems
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("action items of %q\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestActionItemsLimits(t *testing.T) {
	t.Parallel()
	t.Run("dedupe", func(t *testing.T) {
		t.Parallel()
		got := analyze("", "- [ ] Update the runbook\n- [ ] update the runbook.\nTODO: Update the runbook!").ActionItems
		if len(got) != 1 {
			t.Errorf("got %q, want one item", got)
		}
	})
	t.Run("cap and strongest first", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		for i := range 15 {
			fmt.Fprintf(&b, "Let's look at dashboard %d.\n", i)
		}
		for i := range 5 {
			fmt.Fprintf(&b, "- [ ] Fix bug %d\n", i)
		}
		got := analyze("", b.String()).ActionItems
		if len(got) != MaxActionItems {
			t.Fatalf("got %d items, want %d", len(got), MaxActionItems)
		}
		for i := range 5 {
			if !slices.Contains(got, fmt.Sprintf("Fix bug %d", i)) {
				t.Errorf("checkbox task %d lost to weaker suggestions: %q", i, got)
			}
		}
		if got[0] != "Let's look at dashboard 0" {
			t.Errorf("items not in document order: %q", got)
		}
	})
	t.Run("length", func(t *testing.T) {
		t.Parallel()
		got := analyze("", "TODO: "+strings.Repeat("migrate every remaining service ", 40)).ActionItems
		if len(got) != 1 || utf8.RuneCountInString(got[0]) > MaxActionItemRunes || !strings.HasSuffix(got[0], "…") {
			t.Errorf("got %q, want one item cut to %d runes with an ellipsis", got, MaxActionItemRunes)
		}
	})
}

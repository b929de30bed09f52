package extract

import (
	"strings"
	"testing"
	"time"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// itemsRef is the creation time the item tests resolve dates against: a
// Tuesday.
var itemsRef = time.Date(2026, time.March, 10, 10, 0, 0, 0, time.UTC)

// wantItem is an expected structured item: text, owner ("" for null) and
// due date ("" for null).
type wantItem struct{ text, owner, due string }

func itemsOf(t *testing.T, content string, ref time.Time, dates duedate.Options) []wantItem {
	t.Helper()
	res := analyzeInput(recall.AnalysisInput{Content: content, CreatedAt: ref}, dates)
	out := make([]wantItem, len(res.Items))
	for i, it := range res.Items {
		out[i].text = it.Text
		if it.Owner != nil {
			out[i].owner = *it.Owner
		}
		if it.Due != nil {
			out[i].due = it.Due.String()
		}
	}
	return out
}

func TestItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []wantItem
	}{
		// Owners the text names.
		{"speaker and first person", "Alice: I will send the deck to the board\nBob: thanks", []wantItem{{"Send the deck to the board", "Alice", ""}}},
		{"mention", "@alice please review PR 482", []wantItem{{"Review PR 482", "alice", ""}}},
		{"name will", "Bob will update the runbook.", []wantItem{{"Update the runbook", "Bob", ""}}},
		{"name needs to", "Dana needs to sign off on the budget.", []wantItem{{"Sign off on the budget", "Dana", ""}}},
		{"name to", "- Carol to schedule the retro", []wantItem{{"Schedule the retro", "Carol", ""}}},
		{"two names", "Alice and Bob will pair on the fix.", []wantItem{{"Pair on the fix", "Alice and Bob", ""}}},
		{"assigned to", "- BILL-412 CSV export endpoint, assigned to Nikos", []wantItem{{"BILL-412 CSV export endpoint, assigned to Nikos", "Nikos", ""}}},
		{"action label with owner", "Action (Bob): book a room for the offsite", []wantItem{{"Book a room for the offsite", "Bob", ""}}},
		{"ai label and dash", "AI: Carol — schedule the retro", []wantItem{{"Schedule the retro", "Carol", ""}}},
		{"todo with owner", "TODO(alice): fix the flaky test", []wantItem{{"Fix the flaky test", "alice", ""}}},
		{"owner in brackets", "## Action items\n- Write the handoff template (Wen) — by Thursday", []wantItem{{"Write the handoff template", "Wen", "2026-03-12"}}},
		{"owner after a dash", "Next steps:\n- Decommission the old bastion host — Omar, end of next week", []wantItem{{"Decommission the old bastion host", "Omar", "2026-03-20"}}},
		{"vocative request", "Lisa: Karen could you put a sign up sheet in the class group?\nKaren: ok", []wantItem{{"Put a sign up sheet in the class group", "Karen", ""}}},
		{"owner of the heading", "Editing (Chris)\n- [ ] rough cut by Monday\n- [ ] level the guest's audio", []wantItem{{"Rough cut", "Chris", "2026-03-16"}, {"Level the guest's audio", "Chris", ""}}},
		{"table row", "## Actions\n| Action | Owner | Due |\n|---|---|---|\n| Add pool usage panels | Bianca | 2026-04-30 |", []wantItem{{"Add pool usage panels", "Bianca", "2026-04-30"}}},

		// "I" and "we" are the speaker's, and nobody's without one.
		{"we is the speaker", "Jordan: we need to add an alert on pool saturation\nSam: agreed", []wantItem{{"Add an alert on pool saturation", "Jordan", ""}}},
		{"i without a speaker", "I'll send the Q3 budget draft to finance by Friday.", []wantItem{{"Send the Q3 budget draft to finance", "", "2026-03-13"}}},
		{"we without a speaker", "We need to rotate the API keys.", []wantItem{{"Rotate the API keys", "", ""}}},
		{"subjectless note", "Lee:\n- Will write a failing test today", []wantItem{{"Write a failing test", "Lee", "2026-03-10"}}},
		{"email author", "From: Hannah Becker <hannah@example.com>\nSubject: renewal\n\nHi Raj,\n\nI'll send over the DPA addendum by Friday.", []wantItem{{"Send over the DPA addendum", "Hannah Becker", "2026-03-13"}}},
		{"email addressee", "From: Daniel\n\nHi Ilse,\n\nCould you send us the list of stores that ran out of stock?", []wantItem{{"Send us the list of stores that ran out of stock", "Ilse", ""}}},

		// Requests in a chat and the replies that take them on.
		{"the other of two", "Agent: could you split the export by region?\nCustomer: We can try that tonight.", []wantItem{{"Split the export by region", "Customer", "2026-03-10"}}},
		{"someone, then a taker", "jm: someone needs to update the runbook, it still mentions db01\npd: I'll take the runbook, by thursday", []wantItem{{"Update the runbook", "pd", "2026-03-12"}}},
		{"a reply that only repeats it", "Mum: Sam can you ring Jo and check she's ok to bake?\nSam: will ring her tomorrow\nMum: thanks", []wantItem{{"Ring Jo and check she's ok to bake", "Sam", "2026-03-11"}}},
		{"me is the asker", "Marisa: Kyle can you send me the final version?\nKyle: sure", []wantItem{{"Send Marisa the final version", "Kyle", ""}}},
		{"an imperative someone takes on", "Jordan: roll back first\nAlex: on it", []wantItem{{"Roll back first", "Alex", ""}}},

		// Nothing invented.
		{"no owner, no date", "- Update the status page", []wantItem{{"Update the status page", "", ""}}},
		{"ambiguous numeric date", "- Send the invoice by 12/03", []wantItem{{"Send the invoice by 12/03", "", ""}}},
		{"past tense is no item", "Alice sent the deck on Friday.", nil},
		{"a question is no item", "Did anyone book the photographer?", nil},
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

// TestItemDueOptions: the time zone and date order the analyzer is given
// decide the day.
func TestItemDueOptions(t *testing.T) {
	t.Parallel()
	late := time.Date(2026, time.December, 31, 23, 30, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	for _, tt := range []struct {
		name    string
		content string
		ref     time.Time
		opts    Options
		due     string
	}{
		{"utc", "- Send the report tomorrow", late, Options{}, "2027-01-01"},
		{"berlin is already in the new year", "- Send the report tomorrow", late, Options{Location: berlin}, "2027-01-02"},
		{"day first", "- Send the invoice by 12/03", itemsRef, Options{DateOrder: duedate.DMY}, "2026-03-12"},
		{"month first", "- Send the invoice by 12/03", itemsRef, Options{DateOrder: duedate.MDY}, "2026-12-03"},
		{"no creation time", "- Send the report tomorrow", time.Time{}, Options{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := New(tt.opts).Analyze(t.Context(), recall.AnalysisInput{Content: tt.content, CreatedAt: tt.ref})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Items) != 1 {
				t.Fatalf("items %+v", res.Items)
			}
			got := ""
			if res.Items[0].Due != nil {
				got = res.Items[0].Due.String()
			}
			if got != tt.due {
				t.Errorf("due = %q, want %q", got, tt.due)
			}
		})
	}
}

// TestItemsKeepTheStrings: the structured items come on top of the plain
// strings; MaxActionItems still bounds those, MaxItems the items.
func TestItemsKeepTheStrings(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 25 {
		b.WriteString("- [ ] Fix bug " + strings.Repeat("x", i+1) + "\n")
	}
	res := analyzeInput(recall.AnalysisInput{Content: b.String(), CreatedAt: itemsRef}, duedate.Options{})
	if len(res.ActionItems) != MaxActionItems || len(res.Items) != MaxItems {
		t.Fatalf("%d strings and %d items, want %d and %d", len(res.ActionItems), len(res.Items), MaxActionItems, MaxItems)
	}
	for i, it := range res.Items {
		if it.ID != recall.ItemID(it.Text) || it.Done || it.DoneAt != nil {
			t.Errorf("item %d: %+v", i, it)
		}
	}
	if res.Items[0].Text != "Fix bug x" {
		t.Errorf("items not in document order: %q", res.Items[0].Text)
	}
}

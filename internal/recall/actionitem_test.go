package recall_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"recall/internal/recall"
)

func TestItemKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"case", "Send the deck to the board", "send THE deck to the Board", true},
		{"final punctuation", "Send the deck.", "Send the deck!", true},
		{"inner punctuation", "Send the deck, then the notes", "Send the deck then the notes", true},
		{"white space", "Send  the\tdeck\n", " Send the deck", true},
		{"curly apostrophe", "I’ll send the deck", "I'll send the deck", true},
		{"apostrophe dropped", "I'll send the deck", "Ill send the deck", true},
		{"hyphen inside a word", "Re-send the e-mail", "Resend the email", true},
		{"markdown", "**Send** the `deck`", "Send the deck", true},
		{"dash between words", "Carol - schedule the retro", "Carol schedule the retro", true},
		{"a word changed", "Send the draft", "Send the final", false},
		{"a word added", "Send the deck", "Send the deck today", false},
		{"words reordered", "Alice reviews Bob's PR", "Bob reviews Alice's PR", false},
		{"digits count", "Fix bug 12", "Fix bug 13", false},
		{"letters outside ASCII", "Réserver la salle", "réserver la SALLE", true},
		{"accents are letters", "Resume the sync", "Résumé the sync", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ka, kb := recall.ItemKey(tt.a), recall.ItemKey(tt.b)
			if (ka == kb) != tt.same {
				t.Errorf("ItemKey(%q) = %q, ItemKey(%q) = %q; same = %v, want %v", tt.a, ka, tt.b, kb, ka == kb, tt.same)
			}
			ia, ib := recall.ItemID(tt.a), recall.ItemID(tt.b)
			if (ia == ib) != tt.same {
				t.Errorf("ItemID(%q) = %s, ItemID(%q) = %s; want same = %v", tt.a, ia, tt.b, ib, tt.same)
			}
			if !recall.ValidItemID(ia) {
				t.Errorf("ItemID(%q) = %q is not a valid item ID", tt.a, ia)
			}
		})
	}
	if got := recall.ItemKey("  Hello, World -- it’s me!  "); got != "hello world its me" {
		t.Errorf("ItemKey = %q, want %q", got, "hello world its me")
	}
}

func TestValidItemID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "../../etc/passwd", "0123456789abcdeg"} {
		if recall.ValidItemID(s) {
			t.Errorf("ValidItemID(%q) = true", s)
		}
	}
	if !recall.ValidItemID("0123456789abcdef") {
		t.Error("ValidItemID refuses a well-formed ID")
	}
}

func TestCarryDone(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
	done := func(text string) recall.ActionItem {
		it := recall.NewActionItem(text, "", nil)
		it.Done, it.DoneAt = true, &at
		return it
	}
	open := func(text string) recall.ActionItem { return recall.NewActionItem(text, "", nil) }
	tests := []struct {
		name     string
		old, new []recall.ActionItem
		wantDone []bool
	}{
		{"no old items", nil, []recall.ActionItem{open("Send the deck")}, []bool{false}},
		{"same text", []recall.ActionItem{done("Send the deck")}, []recall.ActionItem{open("Send the deck")}, []bool{true}},
		{"case and punctuation changed", []recall.ActionItem{done("Send the deck.")}, []recall.ActionItem{open("send the Deck")}, []bool{true}},
		{"white space changed", []recall.ActionItem{done("Send  the deck")}, []recall.ActionItem{open("Send the\ndeck")}, []bool{true}},
		{"reworded", []recall.ActionItem{done("Send the draft")}, []recall.ActionItem{open("Send the final")}, []bool{false}},
		{"old open stays open", []recall.ActionItem{open("Send the deck")}, []recall.ActionItem{open("Send the deck")}, []bool{false}},
		{"order does not matter", []recall.ActionItem{done("Book a room"), open("Send the deck")},
			[]recall.ActionItem{open("Send the deck"), open("Write notes"), open("book a room!")}, []bool{false, false, true}},
		{"a dropped item goes", []recall.ActionItem{done("Book a room")}, []recall.ActionItem{open("Send the deck")}, []bool{false}},
		{"no new items", []recall.ActionItem{done("Book a room")}, []recall.ActionItem{}, []bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			oldJSON, _ := json.Marshal(tt.old)
			newJSON, _ := json.Marshal(tt.new)
			got := recall.CarryDone(tt.old, tt.new)
			if len(got) != len(tt.wantDone) {
				t.Fatalf("got %d items, want %d", len(got), len(tt.wantDone))
			}
			for i, it := range got {
				if it.Done != tt.wantDone[i] {
					t.Errorf("item %d %q: done = %v, want %v", i, it.Text, it.Done, tt.wantDone[i])
				}
				if it.Done != (it.DoneAt != nil) || (it.DoneAt != nil && !it.DoneAt.Equal(at)) {
					t.Errorf("item %d %q: done_at = %v with done = %v", i, it.Text, it.DoneAt, it.Done)
				}
				if it.Text != tt.new[i].Text || it.ID != tt.new[i].ID {
					t.Errorf("item %d changed: %+v, was %+v", i, it, tt.new[i])
				}
			}
			if again, _ := json.Marshal(tt.old); string(again) != string(oldJSON) {
				t.Errorf("old items modified: %s, was %s", again, oldJSON)
			}
			if again, _ := json.Marshal(tt.new); string(again) != string(newJSON) {
				t.Errorf("new items modified: %s, was %s", again, newJSON)
			}
		})
	}
	t.Run("done_at is not shared", func(t *testing.T) {
		t.Parallel()
		old := []recall.ActionItem{done("Send the deck")}
		got := recall.CarryDone(old, []recall.ActionItem{open("Send the deck")})
		*got[0].DoneAt = time.Time{}
		if !old[0].DoneAt.Equal(at) {
			t.Error("the carried done_at points at the old item's")
		}
	})
}

func TestActionItemJSON(t *testing.T) {
	t.Parallel()
	due := recall.Date{Year: 2026, Month: time.December, Day: 11}
	it := recall.NewActionItem("Send the deck to the board", "Alice", &due)
	b, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + recall.ItemID("Send the deck to the board") + `","text":"Send the deck to the board","owner":"Alice","due":"2026-12-11","done":false,"done_at":null}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, err = json.Marshal(recall.NewActionItem("Rotate the keys", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"owner", "due", "done_at"} {
		if v, ok := m[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	var back recall.ActionItem
	if err := json.Unmarshal([]byte(`{"id":"x","text":"t","owner":"Bo","due":"2028-02-29","done":true,"done_at":"2026-03-10T09:30:00Z"}`), &back); err != nil {
		t.Fatal(err)
	}
	if *back.Owner != "Bo" || *back.Due != (recall.Date{Year: 2028, Month: time.February, Day: 29}) || !back.Done || back.DoneAt == nil {
		t.Errorf("decoded %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"due":"2026-02-29"}`), &back); err == nil {
		t.Error("decoded a due date that does not exist")
	}
	if _, err := json.Marshal(recall.ActionItem{Due: &recall.Date{}}); err == nil {
		t.Error("marshalled the zero date")
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		s     string
		valid bool
	}{{"2026-12-11", true}, {"2028-02-29", true}, {"2026-02-29", false}, {"2026-13-01", false}, {"2026-1-5", false}, {"11/12/2026", false}, {"", false}} {
		d, err := recall.ParseDate(tt.s)
		if (err == nil) != tt.valid {
			t.Errorf("ParseDate(%q) = %v, %v; want valid = %v", tt.s, d, err, tt.valid)
		}
		if err == nil && (d.String() != tt.s || !d.Valid()) {
			t.Errorf("ParseDate(%q).String() = %q", tt.s, d)
		}
	}
	nye := recall.Date{Year: 2026, Month: time.December, Day: 31}
	if got := nye.AddDays(1); got != (recall.Date{Year: 2027, Month: time.January, Day: 1}) {
		t.Errorf("Dec 31 + 1 = %v", got)
	}
	if got := (recall.Date{Year: 2028, Month: time.March, Day: 1}).AddDays(-1); got.String() != "2028-02-29" {
		t.Errorf("1 Mar 2028 - 1 = %v", got)
	}
	if nye.Weekday() != time.Thursday {
		t.Errorf("31 Dec 2026 is a %v", nye.Weekday())
	}
	if nye.Compare(nye.AddDays(1)) != -1 || nye.AddDays(1).Compare(nye) != 1 || nye.Compare(nye) != 0 {
		t.Error("Compare disagrees with the calendar")
	}
	if (recall.Date{Year: 2026, Month: time.February, Day: 31}).Valid() {
		t.Error("31 February is valid")
	}
}

// recorder is an analyzer that keeps the last input it was given.
type recorder struct {
	mu sync.Mutex
	in recall.AnalysisInput
}

func (r *recorder) Analyze(_ context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in = in
	return recall.Analysis{Summary: "s", ActionItems: []string{}, Keywords: []string{}, Model: "recorder"}, nil
}

func (r *recorder) Health(context.Context) (string, error) { return "recorder", nil }

// TestWorkerGivesTheCreationTime: the analyzer resolves "by Friday" against
// the day the conversation was posted, so the worker must hand that over.
func TestWorkerGivesTheCreationTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rec := &recorder{}
	h.svc = recall.NewService(recall.Config{Store: h.store, Queue: h.queue, Analyzer: rec, Now: h.svc.Config().Now})
	c := h.create(t)
	h.run(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.in.ConversationID != c.ID || !rec.in.CreatedAt.Equal(c.CreatedAt) || rec.in.CreatedAt.IsZero() {
		t.Errorf("analyzer saw id %q created %v; want %q created %v", rec.in.ConversationID, rec.in.CreatedAt, c.ID, c.CreatedAt)
	}
}

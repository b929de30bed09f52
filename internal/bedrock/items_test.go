package bedrock_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/duedate"
	"recall/internal/recall"
)

const standup = `Anna: Ben will rerun the load tests by Friday.
Chloé: I will update the announcement next Friday.
Dan: Someone book the room EOD.
Anna: I send the budget on Monday.
Eve: I will deliver the report by 2026-04-01.
Anna: And we should call the vendor.`

// standupReply is what a model might make of standup: owners and deadlines
// as the text words them, except where it makes something up (an owner
// nobody named, a date it worked out itself).
const standupReply = `{"summary": "Standup: load tests, announcement, room, budget, report, vendor.",
"action_items": [
 {"text": "Rerun the load tests", "owner": "Ben", "due_text": "by Friday"},
 {"text": "Update the announcement", "owner": "Chloé", "due_text": "next Friday"},
 {"text": "Book the room", "owner": "", "due_text": "EOD"},
 {"text": "Send the budget", "owner": "Anna", "due_text": "2026-03-16"},
 {"text": "Deliver the report", "owner": "Eve", "due_text": "by 2026-04-01"},
 {"text": "Call the vendor", "owner": "Zed", "due_text": null},
 {"text": "rerun the  load tests.", "owner": "Ben", "due_text": "by Friday"}
],
"keywords": ["standup"]}`

// TestStructuredActionItems: the model names each item's owner and its
// deadline as written; Recall keeps an owner only if the text names them,
// resolves the deadline itself from the day the conversation was posted
// (an ISO date only if the text says it), and keeps the plain strings. A
// cached analysis is reused only for a conversation posted the same day,
// so "by Friday" is never a stale Friday.
func TestStructuredActionItems(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	s.SetHook(func(*bedrocktest.Request) bedrocktest.Behavior { return bedrocktest.ToolInput(standupReply) })
	a := newAnalyzer(t, s, bedrock.Options{})
	tuesday := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
	x := recall.AnalysisInput{ConversationID: "01JITEMS", Owner: "anna", Title: "Standup", Content: standup, CreatedAt: tuesday}
	got, err := a.Analyze(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ text, owner, due string }{
		{"Rerun the load tests", "Ben", "2026-03-13"},      // by Friday, said on Tuesday
		{"Update the announcement", "Chloé", "2026-03-20"}, // next Friday: the Friday of next week
		{"Book the room", "", "2026-03-10"},                // EOD: the day it was said
		{"Send the budget", "Anna", ""},                    // the model's own date; the text says "on Monday"
		{"Deliver the report", "Eve", "2026-04-01"},        // an ISO date the text spells out
		{"Call the vendor", "", ""},                        // nobody called Zed is in the conversation
	}
	if len(got.Items) != len(want) {
		t.Fatalf("%d items, want %d (the repeated one dropped): %+v", len(got.Items), len(want), got.Items)
	}
	for i, w := range want {
		it := got.Items[i]
		if it.Text != w.text || it.ID != recall.ItemID(w.text) || it.Done || it.DoneAt != nil {
			t.Errorf("item %d = %+v, want %q with its ID, open", i, it, w.text)
		}
		if owner := deref(it.Owner); owner != w.owner {
			t.Errorf("%q: owner %q, want %q", w.text, owner, w.owner)
		}
		if due := dueOf(it); due != w.due {
			t.Errorf("%q: due %q, want %q", w.text, due, w.due)
		}
	}
	// ai_action_items stays a list of strings, the owner in front.
	if got.ActionItems[0] != "Ben: Rerun the load tests (by Friday)" || got.ActionItems[2] != "Book the room (EOD)" || len(got.ActionItems) != 6 {
		t.Errorf("action item strings %q", got.ActionItems)
	}

	// Posted the same day, later: the cached analysis holds.
	x.CreatedAt = tuesday.Add(8 * time.Hour)
	if hit, err := a.Analyze(context.Background(), x); err != nil || !hit.Cached || dueOf(hit.Items[0]) != "2026-03-13" {
		t.Fatalf("same day: cached=%v err=%v", hit.Cached, err)
	}
	// Posted on a Saturday: another call, and Saturday's Friday.
	x.CreatedAt = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	sat, err := a.Analyze(context.Background(), x)
	if err != nil || sat.Cached || len(s.Requests()) != 2 {
		t.Fatalf("another day: cached=%v err=%v after %d requests", sat.Cached, err, len(s.Requests()))
	}
	if due := dueOf(sat.Items[0]); due != "2026-03-20" {
		t.Errorf("by Friday said on Saturday 14 March: due %q, want 2026-03-20", due)
	}
	// The day is the one where the conversation was posted.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone database")
	}
	b := newAnalyzer(t, s, bedrock.Options{Cache: bedrock.NewMemoryCache(0), Dates: duedate.Options{Location: tokyo}})
	x.CreatedAt = time.Date(2026, 3, 13, 20, 0, 0, 0, time.UTC) // Friday evening in UTC, Saturday in Tokyo
	late, err := b.Analyze(context.Background(), x)
	if err != nil || dueOf(late.Items[2]) != "2026-03-14" || dueOf(late.Items[0]) != "2026-03-20" {
		t.Errorf("in Tokyo: EOD %q, by Friday %q (%v); want Saturday 14 March and the Friday after", dueOf(late.Items[2]), dueOf(late.Items[0]), err)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func dueOf(it recall.ActionItem) string {
	if it.Due == nil {
		return ""
	}
	return it.Due.String()
}

// TestEchoGivesStructuredItems: the fake's default answer fills owner and
// due_text from the text, so end-to-end runs see structured items.
func TestEchoGivesStructuredItems(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	a := newAnalyzer(t, s, bedrock.Options{})
	x := in(meeting)
	x.CreatedAt = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	got, err := a.Analyze(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 2 || deref(got.Items[0].Owner) != "Ben" || dueOf(got.Items[0]) != "2026-03-13" || !strings.Contains(got.Items[0].Text, "rerun the load tests") {
		t.Errorf("items %+v", got.Items)
	}
}

package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"recall/internal/httpapi"
	"recall/internal/recall"
)

// process runs every queued job to its end, as a worker would.
func (e *env) process(t testing.TB) {
	t.Helper()
	for {
		jobs, err := e.queue.Receive(t.Context(), 10, 10*time.Millisecond)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if len(jobs) == 0 {
			return
		}
		for _, j := range jobs {
			if out := e.svc.Handle(t.Context(), j); out != recall.OutcomeDone {
				t.Fatalf("Handle(%s) = %s", j.ConversationID, out)
			}
			if err := e.queue.Ack(t.Context(), j); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// listItems lists sub's action items with query q.
func (e *env) listItems(t testing.TB, sub, q string) httpapi.ActionItemList {
	t.Helper()
	w := e.do(t, req{method: "GET", target: "/api/action-items?" + q, as: sub})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/action-items?%s: status %d: %s", q, w.Code, w.Body)
	}
	return decode[httpapi.ActionItemList](t, w)
}

// patchItem sends body to the item's PATCH route as sub.
func (e *env) patchItem(t testing.TB, sub, convID, itemID, body string) *httptest.ResponseRecorder {
	t.Helper()
	return e.do(t, req{method: "PATCH", target: "/api/conversations/" + convID + "/action-items/" + itemID, body: body, as: sub})
}

// minutes is a meeting's notes with three action items: two dated, one not.
const minutes = `Planning meeting.
Alice: I will send the deck to the board by 2026-12-11.
Bob: I'll fix the flaky build.
Carol will book the room for the offsite by 2026-12-01.`

// texts are the items' texts in listing order.
func texts(items []httpapi.ListedActionItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Text
	}
	return out
}

// itemWith finds the item whose text contains s.
func itemWith(t testing.TB, items []httpapi.ListedActionItem, s string) httpapi.ListedActionItem {
	t.Helper()
	for _, it := range items {
		if strings.Contains(strings.ToLower(it.Text), s) {
			return it
		}
	}
	t.Fatalf("no item mentions %q in %q", s, texts(items))
	return httpapi.ListedActionItem{}
}

// TestActionItemsEndToEnd: the analysis's items are listed across the
// caller's conversations in order (due date, undated last), are ticked off
// and opened again over PATCH, keep their tick through a reprocess, and
// are nobody else's business.
func TestActionItemsEndToEnd(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, "alice", minutes)
	e.process(t)

	page := e.listItems(t, "alice", "")
	if len(page.Items) != 3 || page.NextCursor != nil {
		t.Fatalf("listing = %q, next %v; want the three items on one page", texts(page.Items), page.NextCursor)
	}
	room, deck, build := page.Items[0], page.Items[1], page.Items[2]
	if !strings.Contains(room.Text, "room") || deref(room.Due) != "2026-12-01" || deref(room.Owner) != "Carol" ||
		!strings.Contains(deck.Text, "deck") || deref(deck.Due) != "2026-12-11" || deref(deck.Owner) != "Alice" ||
		!strings.Contains(build.Text, "build") || build.Due != nil || deref(build.Owner) != "Bob" {
		t.Fatalf("listing out of order or misread: %+v", page.Items)
	}
	for _, it := range page.Items {
		if it.ConversationID != c.ID || it.ConversationTitle != "t" || it.Done || it.DoneAt != nil {
			t.Fatalf("item %+v does not name its conversation, or is done", it)
		}
	}

	// Tick the deck off: the answer is the item, done, with done_at.
	w := e.patchItem(t, "alice", c.ID, deck.ID, `{"done": true}`)
	if w.Code != http.StatusOK {
		t.Fatalf("PATCH: status %d: %s", w.Code, w.Body)
	}
	got := decode[httpapi.ActionItem](t, w)
	if !got.Done || got.DoneAt == nil || got.ID != deck.ID || got.Text != deck.Text {
		t.Fatalf("PATCH answered %+v", got)
	}
	if open := e.listItems(t, "alice", "status=open"); len(open.Items) != 2 || open.Items[0].ID != room.ID || open.Items[1].ID != build.ID {
		t.Fatalf("open after the tick = %q", texts(open.Items))
	}
	if done := e.listItems(t, "alice", "status=done"); len(done.Items) != 1 || done.Items[0].ID != deck.ID || deref(done.Items[0].DoneAt) != deref(got.DoneAt) {
		t.Fatalf("done after the tick = %+v", done.Items)
	}

	// A reprocess keeps the tick: the conversation and the listing agree.
	if w := e.do(t, req{method: "POST", target: "/api/conversations/" + c.ID + "/reprocess", as: "alice"}); w.Code != http.StatusAccepted {
		t.Fatalf("reprocess: status %d: %s", w.Code, w.Body)
	}
	e.process(t)
	conv := decode[httpapi.Conversation](t, e.do(t, req{method: "GET", target: "/api/conversations/" + c.ID, as: "alice"}))
	if conv.AIStatus != "done" || len(conv.ActionItems) != 3 {
		t.Fatalf("after the reprocess: %s with %d items", conv.AIStatus, len(conv.ActionItems))
	}
	for _, it := range conv.ActionItems {
		if it.Done != (it.ID == deck.ID) {
			t.Fatalf("after the reprocess item %q done = %v", it.Text, it.Done)
		}
	}
	if done := e.listItems(t, "alice", "status=done"); len(done.Items) != 1 || done.Items[0].ID != deck.ID || deref(done.Items[0].DoneAt) != deref(got.DoneAt) {
		t.Fatalf("done after the reprocess = %+v", done.Items)
	}

	// Open again: done_at is cleared.
	w = e.patchItem(t, "alice", c.ID, deck.ID, `{"done": false}`)
	if again := decode[httpapi.ActionItem](t, w); w.Code != http.StatusOK || again.Done || again.DoneAt != nil {
		t.Fatalf("PATCH false: %d %+v", w.Code, again)
	}
	if open := e.listItems(t, "alice", "status=open"); len(open.Items) != 3 {
		t.Fatalf("open after opening again = %q", texts(open.Items))
	}

	// Someone else sees nothing and ticks nothing.
	if bobs := e.listItems(t, "bob", "status=all"); len(bobs.Items) != 0 {
		t.Fatalf("bob lists %q", texts(bobs.Items))
	}
	checkError(t, e.patchItem(t, "bob", c.ID, deck.ID, `{"done": true}`), http.StatusNotFound, recall.ENOTFOUND)
	if open := e.listItems(t, "alice", "status=open"); len(open.Items) != 3 {
		t.Fatalf("bob's PATCH changed alice's items: %q open", texts(open.Items))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestActionItemsQueryRefused: every bad parameter of the listing is a 400
// invalid_request whose message names it.
func TestActionItemsQueryRefused(t *testing.T) {
	e := newEnv(t)
	e.create(t, "alice", minutes)
	e.process(t)
	first := e.listItems(t, "alice", "limit=1")
	if first.NextCursor == nil {
		t.Fatal("a page of one of three items has no cursor")
	}
	cur := url.QueryEscape(*first.NextCursor)
	tests := []struct {
		name, sub, query, mention string
	}{
		{"unknown status", "alice", "status=closed", "status"},
		{"status in capitals", "alice", "status=OPEN", "status"},
		{"not a date", "alice", "due_before=friday", "due_before"},
		{"no such day", "alice", "due_after=2026-02-30", "due_after"},
		{"year zero", "alice", "due_before=0000-01-01", "due_before"},
		{"date with a time", "alice", "due_before=2026-12-01T00:00:00Z", "due_before"},
		{"empty range", "alice", "due_after=2026-12-05&due_before=2026-12-05", "due_after"},
		{"limit zero", "alice", "limit=0", "limit"},
		{"limit too large", "alice", "limit=101", "limit"},
		{"limit not a number", "alice", "limit=ten", "limit"},
		{"empty owner", "alice", "owner=", "owner"},
		{"owner of spaces", "alice", "owner=%20%20", "owner"},
		{"owner too long", "alice", "owner=" + strings.Repeat("a", 101), "owner"},
		{"unknown parameter", "alice", "stauts=done", "stauts"},
		{"repeated parameter", "alice", "status=open&status=done", "status"},
		{"empty cursor", "alice", "cursor=", "cursor"},
		{"garbage cursor", "alice", "cursor=bm90LWEtY3Vyc29y", "cursor"},
		{"cursor of another listing", "alice", "status=all&cursor=" + cur, "cursor"},
		{"cursor of another owner", "bob", "cursor=" + cur, "cursor"},
		{"malformed query", "alice", "status=%zz", "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(t, req{method: "GET", target: "/api/action-items?" + tt.query, as: tt.sub})
			checkError(t, w, http.StatusBadRequest, recall.EINVALID, tt.mention)
		})
	}
	// The cursor, used as given, goes on.
	if next := e.listItems(t, "alice", "limit=1&cursor="+cur); len(next.Items) != 1 || next.Items[0].ID == first.Items[0].ID {
		t.Fatalf("second page = %+v", next.Items)
	}
}

// TestActionItemsPages: following next_cursor at every page size gives
// the one-page listing, each item once, for every filter.
func TestActionItemsPages(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		e.create(t, "alice", fmt.Sprintf("Sync %d.\nAlice: I will send report %d by 2026-12-%02d.\nBob: I'll review draft %d.\nCarol will call vendor %d by 2026-11-%02d.", i, i, 10+i, i, i, 20-i))
	}
	e.process(t)
	for _, filter := range []string{"", "status=all", "owner=%40alice", "due_after=2026-11-15", "due_before=2026-12-12&due_after=2026-11-17"} {
		whole := e.listItems(t, "alice", filter+"&limit=100")
		if len(whole.Items) == 0 || whole.NextCursor != nil {
			t.Fatalf("%q: one page holds %d items, next %v", filter, len(whole.Items), whole.NextCursor)
		}
		for _, size := range []int{1, 2, 5} {
			var got []string
			q := fmt.Sprintf("%s&limit=%d", filter, size)
			for pages := 0; ; pages++ {
				p := e.listItems(t, "alice", q)
				if len(p.Items) > size || pages > len(whole.Items) {
					t.Fatalf("%q: page of %d items, or too many pages", q, len(p.Items))
				}
				for _, it := range p.Items {
					got = append(got, it.ConversationID+"/"+it.ID)
				}
				if p.NextCursor == nil {
					break
				}
				q = fmt.Sprintf("%s&limit=%d&cursor=%s", filter, size, url.QueryEscape(*p.NextCursor))
			}
			var want []string
			for _, it := range whole.Items {
				want = append(want, it.ConversationID+"/"+it.ID)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("%q by %d:\n got %v\nwant %v", filter, size, got, want)
			}
		}
	}
	if bobs := e.listItems(t, "alice", "owner=Bob&limit=100"); len(bobs.Items) != 4 {
		t.Fatalf("owner=Bob lists %q", texts(bobs.Items))
	}
}

// TestPatchItemRefused: the body is {"done": true|false} and nothing else
// (400 naming what is wrong); an item that is missing or someone else's is
// 404, and nothing changes.
func TestPatchItemRefused(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, "alice", minutes)
	e.process(t)
	item := e.listItems(t, "alice", "").Items[0]
	bodies := []struct{ name, body, mention string }{
		{"empty object", `{}`, "done"},
		{"null", `{"done": null}`, "done"},
		{"string", `{"done": "true"}`, "done"},
		{"number", `{"done": 1}`, "done"},
		{"unknown field", `{"done": true, "text": "x"}`, "text"},
		{"only an unknown field", `{"owner": "bob"}`, "owner"},
		{"array", `[{"done": true}]`, "object"},
		{"not JSON", `done=true`, "JSON"},
		{"cut short", `{"done": tr`, "ends"},
		{"two objects", `{"done": true} {"done": false}`, "single object"},
		{"oversized", `{"done": true` + strings.Repeat(" ", 1100) + `}`, "1024 bytes"},
	}
	for _, tt := range bodies {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, e.patchItem(t, "alice", c.ID, item.ID, tt.body), http.StatusBadRequest, recall.EINVALID, tt.mention)
		})
	}
	t.Run("empty body", func(t *testing.T) {
		w := e.do(t, req{method: "PATCH", target: "/api/conversations/" + c.ID + "/action-items/" + item.ID, as: "alice"})
		checkError(t, w, http.StatusBadRequest, recall.EINVALID, "empty")
	})
	t.Run("not JSON by its type", func(t *testing.T) {
		w := e.do(t, req{method: "PATCH", target: "/api/conversations/" + c.ID + "/action-items/" + item.ID, body: `{"done": true}`,
			headers: map[string]string{"Content-Type": "text/plain"}, as: "alice"})
		checkError(t, w, http.StatusUnsupportedMediaType, recall.EMEDIA)
	})
	for _, tt := range []struct{ name, sub, conv, item string }{
		{"someone else's", "bob", c.ID, item.ID},
		{"no such item", "alice", c.ID, "0123456789abcdef"},
		{"malformed item id", "alice", c.ID, "not-an-id"},
		{"no such conversation", "alice", recall.NewID(time.Now()), item.ID},
		{"malformed conversation id", "alice", "nope", item.ID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkError(t, e.patchItem(t, tt.sub, tt.conv, tt.item, `{"done": true}`), http.StatusNotFound, recall.ENOTFOUND)
		})
	}
	if done := e.listItems(t, "alice", "status=done"); len(done.Items) != 0 {
		t.Fatalf("a refused PATCH ticked %q off", texts(done.Items))
	}
}

// FuzzActionItemRequests sends arbitrary query strings to the listing and
// arbitrary bodies to the PATCH of a real item: every answer is JSON, a
// 200 or a 400 (a 404 for nothing here, the item exists), never a 500 or
// a panic; and a PATCH answered 200 was a body whose done is a boolean,
// which the item now has.
func FuzzActionItemRequests(f *testing.F) {
	for _, seed := range []struct{ query, body string }{
		{"status=open&limit=5", `{"done": true}`},
		{"status=all&owner=%40Alice&due_after=2026-01-01&due_before=2026-12-31", `{"done": false}`},
		{"cursor=AAAA&limit=100", `{"done": null}`},
		{"due_before=2026-02-30", `{"done": 0}`},
		{"owner=" + strings.Repeat("x", 200), `{"done": true, "done": false}`},
		{"%zz", " {\"done\" : true } "},
		{"limit=-1&status=", `{"Done": true}`},
	} {
		f.Add(seed.query, seed.body)
	}
	e := newEnv(f)
	c := e.create(f, "alice", minutes)
	e.process(f)
	item := e.listItems(f, "alice", "").Items[0]
	f.Fuzz(func(t *testing.T, query, body string) {
		w := e.do(t, req{method: "GET", target: "/api/action-items?" + url.PathEscape(query), as: "alice"})
		if (w.Code != http.StatusOK && w.Code != http.StatusBadRequest) || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("GET ?%q: %d %s", query, w.Code, w.Body)
		}
		w = e.patchItem(t, "alice", c.ID, item.ID, body)
		if (w.Code != http.StatusOK && w.Code != http.StatusBadRequest) || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("PATCH %q: %d %s", body, w.Code, w.Body)
		}
		if w.Code == http.StatusOK {
			var sent struct{ Done *bool }
			got := decode[httpapi.ActionItem](t, w)
			if err := json.Unmarshal([]byte(body), &sent); err != nil || sent.Done == nil || *sent.Done != got.Done {
				t.Fatalf("PATCH %q answered 200 with done %v", body, got.Done)
			}
		}
	})
}

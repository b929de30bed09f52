package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recall/internal/fulltext"
	"recall/internal/httpapi"
	"recall/internal/recall"
)

// newSearchEnv is newEnv with the embedded full-text index, as the local
// runner wires it.
func newSearchEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	idx, err := fulltext.Open(filepath.Join(t.TempDir(), "search.bleve"), fulltext.Options{})
	if err != nil {
		t.Fatalf("fulltext.Open: %v", err)
	}
	t.Cleanup(func() { idx.Close() })
	return newServiceEnv(t, func(c *recall.Config) { c.Index = idx }, opts...)
}

// createTitled posts a conversation with a title as sub.
func (e *env) createTitled(t *testing.T, sub, title, content string) httpapi.Conversation {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"content": content, "title": title})
	w := e.do(t, req{method: "POST", target: "/api/conversations", body: string(body), as: sub})
	if w.Code != http.StatusCreated {
		t.Fatalf("create: status %d: %s", w.Code, w.Body)
	}
	return decode[httpapi.Conversation](t, w)
}

// search runs GET /api/search as sub and decodes a 200.
func (e *env) search(t *testing.T, sub, q, extra string) httpapi.SearchList {
	t.Helper()
	w := e.do(t, req{method: "GET", target: "/api/search?q=" + url.QueryEscape(q) + extra, as: sub})
	if w.Code != http.StatusOK {
		t.Fatalf("search %q: status %d: %s", q, w.Code, w.Body)
	}
	checkJSONHeaders(t, w.Header())
	return decode[httpapi.SearchList](t, w)
}

func ids(l httpapi.SearchList) []string {
	out := []string{}
	for _, it := range l.Items {
		out = append(out, it.Conversation.ID)
	}
	return out
}

func TestSearchBadInput(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	e.createTitled(t, "alice", "Push service", "we need to migrate the push service")
	first := e.search(t, "alice", "push", "&limit=1")
	if first.NextCursor != nil {
		t.Fatalf("one conversation, yet a next cursor")
	}
	// A real cursor of alice's for "migrate" (two conversations, a page of one).
	e.createTitled(t, "alice", "Migration", "migrate the database")
	page := e.search(t, "alice", "migrate", "&limit=1")
	if page.NextCursor == nil {
		t.Fatal("setup: two matches, a page of one, and no cursor")
	}
	cursor := url.QueryEscape(*page.NextCursor)
	tests := []struct {
		name, query, as, names string
	}{
		{"no q", "", "alice", "q"},
		{"empty q", "q=", "alice", "q"},
		{"blank q", "q=%20%20", "alice", "q"},
		{"q too long", "q=" + strings.Repeat("a", recall.MaxQueryLen+1), "alice", "q"},
		{"only exclusions", "q=-push", "alice", "q"},
		{"limit zero", "q=push&limit=0", "alice", "limit"},
		{"limit too big", "q=push&limit=51", "alice", "limit"},
		{"limit not a number", "q=push&limit=ten", "alice", "limit"},
		{"limit negative", "q=push&limit=-1", "alice", "limit"},
		{"empty cursor", "q=push&cursor=", "alice", "cursor"},
		{"garbage cursor", "q=push&cursor=not-a-cursor", "alice", "cursor"},
		{"cursor of another query", "q=push&cursor=" + cursor, "alice", "cursor"},
		{"cursor of another owner", "q=migrate&cursor=" + cursor, "bob", "cursor"},
		{"malformed query string", "q=%zz", "alice", "query string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(t, req{method: "GET", target: "/api/search?" + tc.query, as: tc.as})
			checkError(t, w, http.StatusBadRequest, recall.EINVALID, tc.names)
		})
	}
	// The cursor itself works for its owner and query.
	next := e.search(t, "alice", "migrate", "&limit=1&cursor="+cursor)
	if got := append(ids(page), ids(next)...); len(got) != 2 || got[0] == got[1] {
		t.Fatalf("two pages of one: %v", got)
	}
}

func TestSearchFindsAndHighlights(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	c := e.createTitled(t, "alice", "Planning", `Ana: we need to migrate the push service <script>alert(1)</script> & soon`)
	e.createTitled(t, "alice", "Lunch", "sandwiches on friday")
	e.createTitled(t, "bob", "Bob's push", "bob will migrate the push service too")
	got := e.search(t, "alice", "migrating", "")
	if len(got.Items) != 1 || got.Items[0].Conversation.ID != c.ID {
		t.Fatalf("alice's search for migrating: %v, want only %s", ids(got), c.ID)
	}
	it := got.Items[0]
	if it.Conversation.Content != c.Content || it.Conversation.Title != "Planning" || it.Score <= 0 || it.Score > 1 {
		t.Errorf("item %+v", it)
	}
	hl := strings.Join(it.Highlights, " ")
	if !strings.Contains(hl, "<mark>migrate</mark>") {
		t.Errorf("highlights %q do not mark the match", it.Highlights)
	}
	// Only <mark> is markup: whatever else the text holds is escaped.
	stripped := strings.NewReplacer("<mark>", "", "</mark>", "").Replace(hl)
	if strings.ContainsAny(stripped, "<>") || !strings.Contains(stripped, "&lt;script&gt;") {
		t.Errorf("highlights %q carry markup other than <mark>", it.Highlights)
	}
	if bob := e.search(t, "bob", "migrate", ""); len(bob.Items) != 1 || bob.Items[0].Conversation.Title != "Bob's push" {
		t.Errorf("bob sees %v", ids(bob))
	}
	if none := e.search(t, "carol", "migrate", ""); len(none.Items) != 0 || none.NextCursor != nil {
		t.Errorf("carol sees %v", ids(none))
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	c := e.createTitled(t, "alice", "Roadmap", "the quarterly roadmap review")
	target := "/api/conversations/" + c.ID
	// Someone else's is 404, and stays.
	checkError(t, e.do(t, req{method: "DELETE", target: target, as: "bob"}), 404, recall.ENOTFOUND)
	if w := e.do(t, req{method: "GET", target: target, as: "alice"}); w.Code != 200 {
		t.Fatalf("bob's delete touched alice's conversation: %d", w.Code)
	}
	w := e.do(t, req{method: "DELETE", target: target, as: "alice"})
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("delete: %d %q", w.Code, w.Body)
	}
	checkError(t, e.do(t, req{method: "GET", target: target, as: "alice"}), 404, recall.ENOTFOUND)
	checkError(t, e.do(t, req{method: "DELETE", target: target, as: "alice"}), 404, recall.ENOTFOUND)
	if got := e.search(t, "alice", "roadmap", ""); len(got.Items) != 0 {
		t.Fatalf("search after delete: %v", ids(got))
	}
	for _, id := range []string{"nope", recall.NewID(time.Now())} {
		checkError(t, e.do(t, req{method: "DELETE", target: "/api/conversations/" + id, as: "alice"}), 404, recall.ENOTFOUND)
	}
	checkError(t, e.do(t, req{method: "DELETE", target: target}), 401, recall.EUNAUTHORIZED)
}

func TestSearchWithoutIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.do(t, req{method: "GET", target: "/api/search?q=anything", as: "alice"})
	checkError(t, w, http.StatusNotImplemented, recall.EUNSUPPORTED, "not configured")
	if w.Header().Get("Retry-After") != "" {
		t.Errorf("Retry-After on a 501: retrying will not help")
	}
	// Bad input is still named before the missing index is.
	checkError(t, e.do(t, req{method: "GET", target: "/api/search?q=", as: "alice"}), 400, recall.EINVALID, "q")
}

func TestSearchShrinksOversizedPages(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t, func(o *httpapi.Options) { o.MaxListBytes = 30_000 })
	long := strings.Repeat("the falcon report says ", 600) // ~14 KB each
	want := map[string]bool{}
	for range 5 {
		want[e.createTitled(t, "alice", "Falcon", long).ID] = true
	}
	seen := map[string]bool{}
	pages := 0
	for cursor := ""; ; pages++ {
		extra := "&limit=5"
		if cursor != "" {
			extra += "&cursor=" + url.QueryEscape(cursor)
		}
		p := e.search(t, "alice", "falcon", extra)
		if len(p.Items) == 0 || len(p.Items) > 2 {
			t.Fatalf("page %d holds %d items; 30 KB fits one or two", pages, len(p.Items))
		}
		for _, id := range ids(p) {
			if seen[id] {
				t.Fatalf("%s on two pages", id)
			}
			seen[id] = true
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(seen) != len(want) {
		t.Fatalf("saw %d of %d conversations over %d pages", len(seen), len(want), pages+1)
	}
}

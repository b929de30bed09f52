package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"recall/internal/httpapi"
)

// TestListPreviews: a list item carries the first PreviewChars characters
// of the content, cut between characters, and says when it is shortened
// and how long the whole is; GET of the conversation has all of it.
func TestListPreviews(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := httpapi.PreviewChars
	cases := []struct {
		name, content string
		cut           bool
	}{
		{"short", "Alice will send the deck.", false},
		{"exactly the preview", strings.Repeat("a", n), false},
		// Four-byte characters: a cut by bytes would split one.
		{"one character over", strings.Repeat("😀", n+1), true},
		{"long", strings.Repeat("é", n) + strings.Repeat("x", 10_000), true},
	}
	ids := map[string]string{}
	for _, c := range cases {
		ids[e.create(t, "alice", c.content).ID] = c.name
	}
	w := e.do(t, req{method: "GET", target: "/api/conversations", as: "alice"})
	var raw struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	page := decode[httpapi.ConversationList](t, w)
	if len(page.Items) != len(cases) {
		t.Fatalf("%d items, want %d", len(page.Items), len(cases))
	}
	for i, item := range page.Items {
		name := ids[item.ID]
		var c = cases[0]
		for _, cc := range cases {
			if cc.name == name {
				c = cc
			}
		}
		_, hasFlag := raw.Items[i]["content_truncated"]
		_, hasChars := raw.Items[i]["content_chars"]
		switch {
		case !c.cut && (item.Content != c.content || hasFlag || hasChars):
			t.Errorf("%s: content %d chars, content_truncated present %v, content_chars present %v; want all of it and neither",
				name, len([]rune(item.Content)), hasFlag, hasChars)
		case c.cut && (item.Content != string([]rune(c.content)[:n]) || !item.ContentTruncated || item.ContentChars != len([]rune(c.content))):
			t.Errorf("%s: content %d chars (prefix %v), content_truncated %v, content_chars %d; want the first %d of %d",
				name, len([]rune(item.Content)), strings.HasPrefix(c.content, item.Content), item.ContentTruncated, item.ContentChars, n, len([]rune(c.content)))
		}
		full := decode[httpapi.Conversation](t, e.do(t, req{method: "GET", target: "/api/conversations/" + item.ID, as: "alice"}))
		if full.Content != c.content {
			t.Errorf("%s: GET has %d characters, want all %d", name, len([]rune(full.Content)), len([]rune(c.content)))
		}
	}
}

// TestNoHTMLEscaping: answers are JSON, never HTML, so '<', '>' and '&'
// are sent as they are rather than as six-byte escapes.
func TestNoHTMLEscaping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const text = `<b>Q&A</b> -> "done"`
	c := e.create(t, "alice", text)
	for _, target := range []string{"/api/conversations", "/api/conversations/" + c.ID} {
		w := e.do(t, req{method: "GET", target: target, as: "alice"})
		if body := w.Body.String(); !strings.Contains(body, `<b>Q&A</b> -> \"done\"`) || strings.Contains(body, `\u003c`) {
			t.Errorf("GET %s: %s", target, body)
		}
	}
	w := e.do(t, req{method: "POST", target: "/api/conversations", body: `{"content": "x", "<b>": 1}`, as: "alice"})
	if body := w.Body.String(); !strings.Contains(body, `\"<b>\"`) {
		t.Errorf("an error quoting '<b>': %s", body)
	}
}

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"recall/internal/httpapi"
	"recall/internal/recall"
)

// TestTextMustBeUnicode: a string that is not valid Unicode (invalid
// UTF-8, or an escaped surrogate without its pair) is refused with a 400
// naming its field, never stored with U+FFFD in its place; valid text,
// U+FFFD itself and escaped pairs included, is stored as sent.
func TestTextMustBeUnicode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	refused := []struct{ name, body, field string }{
		{"invalid byte in content", "{\"content\": \"ok \xff then\"}", "content"},
		{"truncated sequence in content", "{\"content\": \"caf\xc3\"}", "content"},
		{"overlong encoding of '/'", "{\"content\": \"a\xc0\xafb\"}", "content"},
		{"surrogate encoded in UTF-8", "{\"content\": \"\xed\xa0\x80\"}", "content"},
		{"invalid byte in title", "{\"content\": \"x\", \"title\": \"t\xfe\"}", "title"},
		{"invalid byte in post_type", "{\"content\": \"x\", \"post_type\": \"n\xffte\"}", "post_type"},
		{"invalid byte in priority", "{\"content\": \"x\", \"priority\": \"hi\xffgh\"}", "priority"},
		{"lone high surrogate escape", `{"content": "a\ud800b"}`, "content"},
		{"lone low surrogate escape", `{"content": "\udc00"}`, "content"},
		{"high surrogate escape at the end", `{"title": "t\ud83d", "content": "x"}`, "title"},
		{"two high surrogate escapes", `{"content": "\ud83d\ud83d"}`, "content"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(t, req{method: "POST", target: "/api/conversations", body: tc.body, as: "alice"})
			checkError(t, w, http.StatusBadRequest, recall.EINVALID, `"`+tc.field+`"`, "UTF-8")
		})
	}
	accepted := []struct{ name, body, content string }{
		{"escaped pair", `{"content": "smile \ud83d\ude00"}`, "smile 😀"},
		{"U+FFFD as sent", "{\"content\": \"\xef\xbf\xbd\"}", "\ufffd"},
		{"escaped U+FFFD", `{"content": "\ufffd"}`, "\ufffd"},
		{"escaped backslash before u", `{"content": "\\ud800"}`, `\ud800`},
		{"four-byte UTF-8", `{"content": "𝄞 clef"}`, "𝄞 clef"},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(t, req{method: "POST", target: "/api/conversations", body: tc.body, as: "alice"})
			if w.Code != http.StatusCreated {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			c := decode[httpapi.Conversation](t, w)
			got := decode[httpapi.Conversation](t, e.do(t, req{method: "GET", target: "/api/conversations/" + c.ID, as: "alice"}))
			if got.Content != tc.content {
				t.Errorf("stored %q, want %q", got.Content, tc.content)
			}
		})
	}
}

// TestTitleControlCharacters: a title may hold tab, newline and carriage
// return (a title pasted from a document), and no other control character.
func TestTitleControlCharacters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, title := range []string{"a\tb", "line one\nline two", "crlf\r\n", "\t\n\r"} {
		w := e.do(t, req{method: "POST", target: "/api/conversations", body: `{"content": "x", "title": ` + quote(title) + `}`, as: "alice"})
		if w.Code != http.StatusCreated {
			t.Errorf("title %q: status %d: %s", title, w.Code, w.Body)
			continue
		}
		if got := decode[httpapi.Conversation](t, w).Title; got != title {
			t.Errorf("title %q stored as %q", title, got)
		}
	}
	for _, title := range []string{"bell\a", "nul\x00", "esc\x1b[31m", "del\x7f", "vt\v", "ff\f", "nel\u0085", "csi\u009b"} {
		w := e.do(t, req{method: "POST", target: "/api/conversations", body: `{"content": "x", "title": ` + quote(title) + `}`, as: "alice"})
		checkError(t, w, http.StatusBadRequest, recall.EINVALID, "title", "control characters")
	}
}

// quote writes s as a JSON string.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

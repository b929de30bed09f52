package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"recall/internal/httpapi"
	"recall/internal/recall"
)

// FuzzCreateRequest posts arbitrary bodies with arbitrary content types:
// whatever arrives, the answer is a JSON 201 or a JSON client error, never
// a 500 and never a panic. An accepted create must have stored exactly
// what was posted, after the documented defaults (post_type "update",
// priority "default"): the 201 and a GET of the conversation both show the
// posted content, title, post_type and priority.
func FuzzCreateRequest(f *testing.F) {
	for _, seed := range []struct{ body, contentType string }{
		{`{"content": "hello"}`, "application/json"},
		{`{"content": "hello", "title": "t", "post_type": "note", "priority": "low"}`, "application/json; charset=utf-8"},
		{`{"content": 1}`, ""},
		{`{"content": "x"} []`, "application/x-www-form-urlencoded"},
		{`{"content": "\u0000\ud800"}`, "application/json"},
		{`[`, "text/plain"},
		{`{"content": "x", "priority": null, "title": null}`, "application/json; charset=latin1"},
		{"{\"content\": \"\xff\xfe\"}", "application/json;;"},
		{`{"content": "  <b>Q&A</b>\n\t \u2028 ", "title": " two\tcolumns\r\n ", "post_type": "Meeting-notes_2", "priority": "high"}`, ""},
		{`{"CONTENT": "case", "Title": "keys match without case", "priority": ""}`, "application/json"},
		{`{"content": "😀 \ud83d\ude00 \u00e9 e\u0301", "title": "\u00a0nbsp "}`, "application/json"},
	} {
		f.Add(seed.body, seed.contentType)
	}
	e := newEnv(f)
	tok := token(f, "fuzzer")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		r := httptest.NewRequest("POST", "/api/conversations", strings.NewReader(body))
		r.Header["Content-Type"] = []string{contentType}
		r.Header.Set("Authorization", "Bearer "+tok)
		w := serve(e.handler, r)
		switch w.Code {
		case http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d for body %q, type %q: %s", w.Code, body, contentType, w.Body)
		}
		if w.Header().Get("Content-Type") != "application/json" || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
		if w.Code != http.StatusCreated {
			var eb httpapi.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("error answer %q", w.Body)
			}
			return
		}
		want := posted(t, body)
		var created httpapi.Conversation
		if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil {
			t.Fatalf("201 body %q: %v", w.Body, err)
		}
		g := httptest.NewRequest("GET", "/api/conversations/"+created.ID, nil)
		g.Header.Set("Authorization", "Bearer "+tok)
		gw := serve(e.handler, g)
		var stored httpapi.Conversation
		if err := json.Unmarshal(gw.Body.Bytes(), &stored); gw.Code != http.StatusOK || err != nil {
			t.Fatalf("GET %s: %d %s", created.ID, gw.Code, gw.Body)
		}
		for name, got := range map[string]httpapi.Conversation{"the 201": created, "GET": stored} {
			if got.Content != want.Content || got.Title != want.Title || got.PostType != want.PostType || got.Priority != want.Priority {
				t.Fatalf("%s shows content %q, title %q, post_type %q, priority %q;\nposted %q, %q, %q, %q (body %q)",
					name, got.Content, got.Title, got.PostType, got.Priority, want.Content, want.Title, want.PostType, want.Priority, body)
			}
		}
	})
}

// posted is what a body that was accepted asked to store, read as JSON
// reads it (keys matched without regard to case, the last of repeated
// keys, null as absent), with the documented defaults applied.
func posted(t *testing.T, body string) httpapi.Conversation {
	t.Helper()
	var p struct {
		Content  *string `json:"content"`
		Title    *string `json:"title"`
		PostType *string `json:"post_type"`
		Priority *string `json:"priority"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("accepted body %q does not decode: %v", body, err)
	}
	deref := func(s *string, def string) string {
		if s == nil || *s == "" {
			return def
		}
		return *s
	}
	return httpapi.Conversation{
		Content:  deref(p.Content, ""),
		Title:    deref(p.Title, ""),
		PostType: deref(p.PostType, recall.DefaultPostType),
		Priority: deref(p.Priority, string(recall.PriorityDefault)),
	}
}

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"recall/internal/httpapi"
)

// FuzzCreateRequest posts arbitrary bodies with arbitrary content types:
// whatever arrives, the answer is a JSON 201 or a JSON client error, never
// a 500 and never a panic.
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
		}
	})
}

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"recall/internal/auth"
	"recall/internal/httpapi"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// A poller sends back the ETag it holds: the answer is 304 with no body
// while the conversation is unchanged, and 200 with a new ETag as soon as
// anything in it changes (processing, done, a reprocess).
func TestGetETag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.create(t, "alice", "Alice will send the deck by Friday. Bob needs to fix the login bug.")
	get := func(inm string) (int, string, string) {
		t.Helper()
		h := map[string]string{}
		if inm != "" {
			h["If-None-Match"] = inm
		}
		w := e.do(t, req{method: "GET", target: "/api/conversations/" + c.ID, as: "alice", headers: h})
		return w.Code, w.Header().Get("ETag"), w.Body.String()
	}
	code, tag, body := get("")
	if code != 200 || !regexp.MustCompile(`^"[A-Za-z0-9_-]{16,}"$`).MatchString(tag) {
		t.Fatalf("first get: %d ETag %q", code, tag)
	}
	if code2, tag2, body2 := get(""); code2 != 200 || tag2 != tag || body2 != body {
		t.Errorf("unchanged conversation: ETag %q then %q", tag, tag2)
	}

	tests := []struct {
		name, inm string
		want      int
	}{
		{"same tag", tag, http.StatusNotModified},
		{"weak form of the tag", "W/" + tag, http.StatusNotModified},
		{"in a list", `"other", ` + tag, http.StatusNotModified},
		{"star", "*", http.StatusNotModified},
		{"another tag", `"not-this-one"`, http.StatusOK},
		{"unquoted tag", strings.Trim(tag, `"`), http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, got, body := get(tc.inm)
			if code != tc.want || got != tag {
				t.Fatalf("If-None-Match %s: %d ETag %q, want %d and %q", tc.inm, code, got, tc.want, tag)
			}
			if code == http.StatusNotModified && body != "" {
				t.Errorf("304 with a body: %q", body)
			}
		})
	}

	// Someone else's conversation is 404 whatever the tag: a 304 would
	// confirm that the id exists.
	w := e.do(t, req{method: "GET", target: "/api/conversations/" + c.ID, as: "bob", headers: map[string]string{"If-None-Match": tag}})
	checkError(t, w, http.StatusNotFound, recall.ENOTFOUND)
	w = e.do(t, req{method: "GET", target: "/api/conversations/" + c.ID, headers: map[string]string{"If-None-Match": "*"}})
	checkError(t, w, http.StatusUnauthorized, recall.EUNAUTHORIZED)

	// The analysis arrives: the old tag no longer matches.
	if _, err := e.svc.Drain(t.Context(), time.Now().Add(30*time.Second), recall.WorkerConfig{Wait: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	code, done, body := get(tag)
	if code != 200 || done == tag || !strings.Contains(body, `"ai_status":"done"`) {
		t.Fatalf("after processing: %d ETag %q (was %q): %.100s", code, done, tag, body)
	}
	if code, _, _ := get(done); code != http.StatusNotModified {
		t.Errorf("done, unchanged: %d", code)
	}
	// A reprocess changes it again, and so does its result.
	if w := e.do(t, req{method: "POST", target: "/api/conversations/" + c.ID + "/reprocess", as: "alice"}); w.Code != http.StatusAccepted {
		t.Fatalf("reprocess: %d", w.Code)
	}
	code, pending, _ := get(done)
	if code != 200 || pending == done || pending == tag {
		t.Errorf("after reprocess: %d ETag %q (done %q, first %q)", code, pending, done, tag)
	}
}

func TestOpenAPIRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *httpapi.Options) {
		o.Auth = httpapi.AuthenticatorFunc(func(*http.Request) (string, error) {
			return "", recall.Errorf(recall.EUNAUTHORIZED, "nobody is signed in")
		})
	})
	w := e.do(t, req{method: "GET", target: "/api/openapi.json"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("openapi: %d %v", w.Code, w.Header())
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v, openapi %q", err, doc.OpenAPI)
	}
	// Every route of the API is in the document, with its method; only the
	// page and its assets (not JSON) are left out.
	for _, rt := range httpapi.RouteTable() {
		if rt.Name == httpapi.RouteWebPage || rt.Name == httpapi.RouteWebAssets {
			continue
		}
		if _, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("the OpenAPI document lacks %s %s", rt.Method, rt.Pattern)
		}
	}
	tag := w.Header().Get("ETag")
	w = e.do(t, req{method: "GET", target: "/api/openapi.json", headers: map[string]string{"If-None-Match": tag}})
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("revalidation: %d", w.Code)
	}
}

// The web app's routes go to Options.Web, untouched by authentication;
// without a Web handler they are not routes at all.
func TestWebRoutes(t *testing.T) {
	t.Parallel()
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("web:" + r.URL.Path))
	})
	// The stand-in for the web app answers text, which the OpenAPI
	// document rightly does not describe for /config.json.
	with := newPartialEnv(t, func(o *httpapi.Options) { o.Web = web })
	without := newEnv(t)
	tests := []struct {
		target string
		web    bool // reaches Options.Web
	}{
		{"/", true},
		{"/assets/0123abcd/app.css", true},
		{"/assets/0123abcd/js/views/list.js", true},
		{"/config.json", true},
		{"/index.html", false},
		{"/config.json/x", false},
		{"/assets", false},
		{"/api/", false},
		{"/assets/a//b.js", false},
		{"/assets/../api/health", false},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			w := with.do(t, req{method: "GET", target: tc.target})
			reached := strings.HasPrefix(w.Body.String(), "web:")
			if reached != tc.web {
				t.Fatalf("with Web: %d %q; reached the web handler %v, want %v", w.Code, w.Body, reached, tc.web)
			}
			if !tc.web {
				checkError(t, w, http.StatusNotFound, recall.ENOTFOUND)
			}
			checkError(t, without.do(t, req{method: "GET", target: tc.target}), http.StatusNotFound, recall.ENOTFOUND)
		})
	}
	w := with.do(t, req{method: "POST", target: "/"})
	checkError(t, w, http.StatusMethodNotAllowed, recall.EMETHOD)
	if w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow = %q", w.Header().Get("Allow"))
	}
	// Only the web function serves them.
	part := newPartialEnv(t, func(o *httpapi.Options) { o.Web = web; o.Only = []string{httpapi.FunctionGet} })
	checkError(t, part.do(t, req{method: "GET", target: "/"}), http.StatusNotFound, recall.ENOTFOUND)
	part = newPartialEnv(t, func(o *httpapi.Options) { o.Web = web; o.Only = []string{httpapi.FunctionWeb} })
	if w := part.do(t, req{method: "GET", target: "/config.json"}); w.Body.String() != "web:/config.json" {
		t.Errorf("web function: %d %q", w.Code, w.Body)
	}
	if w := part.do(t, req{method: "GET", target: "/api/openapi.json"}); w.Code != 200 {
		t.Errorf("web function, openapi: %d", w.Code)
	}
}

// The web function has no Service: it opens no store or queue. Routes
// serves its documents without one, and a handler given no Service for a
// route that needs it answers a JSON 500 (and says so at start) rather
// than dereferencing nil.
func TestRoutesWithoutService(t *testing.T) {
	t.Parallel()
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("web:" + r.URL.Path))
	})
	do := func(h http.Handler, method, target string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		r.Header.Set("Authorization", "Bearer "+token(t, "alice"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	t.Run("web function", func(t *testing.T) {
		logs := &testenv.Buffer{}
		h := httpapi.Routes(nil, httpapi.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Only: []string{httpapi.FunctionWeb}, Web: web})
		if logs.String() != "" {
			t.Errorf("the web function's handler complained at start: %s", logs)
		}
		for _, target := range []string{"/", "/config.json", "/assets/0123abcd/app.css"} {
			if w := do(h, "GET", target); w.Code != 200 || w.Body.String() != "web:"+target {
				t.Errorf("GET %s: %d %q", target, w.Code, w.Body)
			}
		}
		if w := do(h, "GET", "/api/openapi.json"); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), httpapi.OpenAPI()) {
			t.Errorf("GET /api/openapi.json: %d", w.Code)
		}
		// What API Gateway never routes here is no route of this function.
		for _, target := range []string{"/api/conversations", "/api/health"} {
			checkError(t, do(h, "GET", target), http.StatusNotFound, recall.ENOTFOUND)
		}
	})

	t.Run("service routes without a service", func(t *testing.T) {
		logs := &testenv.Buffer{}
		hs, err := auth.NewHS256(secret)
		if err != nil {
			t.Fatal(err)
		}
		h := httpapi.Routes(nil, httpapi.Options{Auth: hs, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
		if !strings.Contains(logs.String(), "no Service given") || !strings.Contains(logs.String(), "create,list,get,delete,search,reprocess,action_items,action_item,health") {
			t.Errorf("start log does not name the routes left without a Service: %s", logs)
		}
		for _, c := range []struct{ method, target string }{
			{"GET", "/api/conversations"},
			{"GET", "/api/conversations/01JTESTID0000000000000000"},
			{"POST", "/api/conversations/01JTESTID0000000000000000/reprocess"},
			{"GET", "/api/health"},
		} {
			checkError(t, do(h, c.method, c.target), http.StatusInternalServerError, recall.EINTERNAL)
		}
		if strings.Contains(logs.String(), "panic") {
			t.Errorf("a route without a Service panicked:\n%s", logs)
		}
		if w := do(h, "GET", "/api/openapi.json"); w.Code != 200 {
			t.Errorf("GET /api/openapi.json: %d", w.Code)
		}
	})
}

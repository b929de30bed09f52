package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/auth"
	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/httpapi"
	"recall/internal/httpapi/contract"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// secret signs the tokens of every test.
var secret = []byte("test-secret-that-is-at-least-32-bytes-long")

// env is a real Service (bbolt in a temp dir, in-memory queue, local
// extractive analyzer) behind the real handler.
type env struct {
	svc     *recall.Service
	store   *boltstore.Store
	queue   *memq.Queue
	handler http.Handler
	logs    *testenv.Buffer
}

type envOption func(*httpapi.Options)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return buildEnv(t, true, nil, opts...)
}

// newServiceEnv is newEnv with svc changing the Service's configuration
// (a Limiter, another Analyzer) before the Service is built.
func newServiceEnv(t testing.TB, svc func(*recall.Config), opts ...envOption) *env {
	t.Helper()
	return buildEnv(t, true, svc, opts...)
}

// newPartialEnv is newEnv for a handler that serves only some routes
// (Options.Only): its routing 404s and 405s for the rest are outside the
// OpenAPI document by design, so its exchanges are not checked.
func newPartialEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return buildEnv(t, false, nil, opts...)
}

func buildEnv(t testing.TB, checked bool, svcOpt func(*recall.Config), opts ...envOption) *env {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatalf("boltstore.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	queue := memq.New(memq.Options{})
	t.Cleanup(func() { queue.Close() })
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	sc := recall.Config{
		Logger:         logger,
		Store:          store,
		Queue:          queue,
		Analyzer:       extract.New(extract.Options{}),
		AnalyzeTimeout: 5 * time.Second,
		RetryBase:      10 * time.Millisecond,
		CursorKey:      []byte("test-cursor-key"),
	}
	if svcOpt != nil {
		svcOpt(&sc)
	}
	svc := recall.NewService(sc)
	hs, err := auth.NewHS256(secret)
	if err != nil {
		t.Fatalf("NewHS256: %v", err)
	}
	o := httpapi.Options{Auth: hs, Logger: logger}
	for _, opt := range opts {
		opt(&o)
	}
	var h http.Handler = httpapi.Routes(svc, o)
	// Every exchange of a test (not a benchmark's, nor a fuzzer's, which
	// cannot report from inside) is checked against the OpenAPI document,
	// so the document describes what the API really does.
	if tt, ok := t.(*testing.T); ok && checked {
		h = checker(tt).Handler(h, func(err error) { tt.Error(err) })
	}
	return &env{svc: svc, store: store, queue: queue, handler: h, logs: logs}
}

// checker returns the contract checker, built once for the package.
func checker(t *testing.T) *contract.Checker {
	t.Helper()
	c, err := sharedChecker()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var sharedChecker = sync.OnceValues(contract.New)

// token mints a valid token for sub.
func token(t testing.TB, sub string) string {
	t.Helper()
	tok, err := auth.Mint(secret, sub, time.Hour)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// req describes one request to the handler.
type req struct {
	method, target string
	body           string
	headers        map[string]string
	// as is the caller's sub; "" sends no Authorization header unless one
	// is in headers.
	as string
}

// do serves r through the handler in-process.
func (e *env) do(t testing.TB, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.target, body)
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.as != "" {
		hr.Header.Set("Authorization", "Bearer "+token(t, r.as))
	}
	for k, v := range r.headers {
		if v == "<none>" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, hr)
	return w
}

// httpRequest builds a request with a JSON body (if any).
func httpRequest(t testing.TB, method, target, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// serve runs r through h and records the answer.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// create posts a conversation as sub and returns it.
func (e *env) create(t testing.TB, sub, content string) httpapi.Conversation {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"content": content, "title": "t"})
	w := e.do(t, req{method: "POST", target: "/api/conversations", body: string(body), as: sub})
	if w.Code != http.StatusCreated {
		t.Fatalf("create: status %d: %s", w.Code, w.Body)
	}
	return decode[httpapi.Conversation](t, w)
}

func decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, w.Body.String(), err)
	}
	return v
}

// checkError asserts w is a JSON error answer with status and code whose
// message contains every one of msgParts.
func checkError(t testing.TB, w *httptest.ResponseRecorder, status int, code string, msgParts ...string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	checkJSONHeaders(t, w.Header())
	e := decode[httpapi.ErrorBody](t, w)
	if e.Error.Code != code {
		t.Errorf("code = %q, want %q (message %q)", e.Error.Code, code, e.Error.Message)
	}
	if e.Error.Message == "" {
		t.Errorf("empty message")
	}
	for _, p := range msgParts {
		if !strings.Contains(e.Error.Message, p) {
			t.Errorf("message %q does not mention %q", e.Error.Message, p)
		}
	}
}

func checkJSONHeaders(t testing.TB, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Content-Type":           "application/json",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if h.Get("X-Request-Id") == "" {
		t.Errorf("no X-Request-Id")
	}
}

// logLines returns the JSON log records written to s so far.
func logLines(t testing.TB, s *testenv.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

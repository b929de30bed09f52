package backends_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"recall/internal/auth"
	"recall/internal/backends"
	"recall/internal/config"
	"recall/internal/embedded"
	"recall/internal/httpapi"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// spendingAnalyzer answers at once, reporting 60 tokens spent.
type spendingAnalyzer struct{}

func (spendingAnalyzer) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	return recall.Analysis{Summary: "s", ActionItems: []string{"a"}, Keywords: []string{"k"}, Model: "m",
		Usage: recall.Usage{InputTokens: 50, OutputTokens: 10}, Calls: 1}, nil
}

func (spendingAnalyzer) Health(context.Context) (string, error) { return "ok", nil }

var limitsSecret = []byte("limits-test-secret-0123456789abcdef-0123")

// process is one Recall process as a test sees it: its service and its API.
type process struct {
	t   *testing.T
	svc *recall.Service
	api http.Handler
}

// openProcess opens a process the way the mains do (config, Open,
// ServiceConfig) over env, with its own embedded store.
func openProcess(t *testing.T, env map[string]string, log *slog.Logger) process {
	t.Helper()
	env["RECALL_DATA_DIR"] = t.TempDir()
	cfg, err := config.FromLookup(config.Local, lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	b, err := backends.Open(t.Context(), cfg, log, embedded.Openers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	svc := recall.NewService(b.ServiceConfig(spendingAnalyzer{}))
	hs, err := auth.NewHS256(limitsSecret)
	if err != nil {
		t.Fatal(err)
	}
	return process{t: t, svc: svc, api: httpapi.Routes(svc, httpapi.Options{Auth: hs, Logger: log})}
}

// create posts a conversation as owner and returns the status, the
// Retry-After header and the error message, if any.
func (p process) create(owner string) (status int, retryAfter, message string) {
	p.t.Helper()
	tok, err := auth.Mint(limitsSecret, owner, time.Hour)
	if err != nil {
		p.t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/api/conversations", strings.NewReader(`{"content": "Ship it on Friday."}`))
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	p.api.ServeHTTP(w, r)
	var body httpapi.ErrorBody
	json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code == http.StatusTooManyRequests && body.Error.Code != recall.ERATELIMITED {
		p.t.Errorf("429 with code %q, want %s", body.Error.Code, recall.ERATELIMITED)
	}
	return w.Code, w.Header().Get("Retry-After"), body.Error.Message
}

func (p process) drain() {
	p.t.Helper()
	if _, err := p.svc.Drain(p.t.Context(), time.Now().Add(time.Minute), recall.WorkerConfig{Wait: 50 * time.Millisecond}); err != nil {
		p.t.Fatal(err)
	}
}

// TestOwnerLimitsSharedThroughRedis: two processes on one Redis apply one
// limit per owner, both to requests and to the tokens their workers
// report; while Redis is down each process limits on its own, in-process,
// and still answers.
func TestOwnerLimitsSharedThroughRedis(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	var logs testenv.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	env := func() map[string]string {
		return map[string]string{"REDIS_URL": srv.URL(), "RECALL_OWNER_RPS": "0.01", "RECALL_OWNER_BURST": "3", "RECALL_OWNER_TOKENS_PER_DAY": "100"}
	}
	a, b := openProcess(t, env(), log), openProcess(t, env(), log)

	// Requests: one burst of 3 for alice across both processes.
	for i, p := range []process{a, b, a} {
		if code, _, msg := p.create("alice"); code != http.StatusCreated {
			t.Fatalf("alice's create %d: %d %s", i+1, code, msg)
		}
	}
	code, retry, msg := b.create("alice")
	if code != http.StatusTooManyRequests || retry != "100" || !strings.Contains(msg, "bursts of up to 3") {
		t.Errorf("alice's 4th create, on the other process: %d, Retry-After %q, %q; want 429 after 100s naming the burst", code, retry, msg)
	}

	// Tokens: each worker reports 60 for carol; the budget of 100 is one.
	if code, _, msg := a.create("carol"); code != http.StatusCreated {
		t.Fatalf("carol's first create: %d %s", code, msg)
	}
	a.drain()
	if code, _, msg := b.create("carol"); code != http.StatusCreated {
		t.Fatalf("carol's second create, 60 of 100 tokens spent: %d %s", code, msg)
	}
	b.drain()
	if code, retry, msg := a.create("carol"); code != http.StatusTooManyRequests || !strings.Contains(msg, "120 of the 100 tokens") || retry == "" {
		t.Errorf("carol after 120 of 100 tokens: %d, Retry-After %q, %q; want 429 naming the daily budget", code, retry, msg)
	}

	// Redis down: each process limits dave on its own, and answers.
	srv.Stop()
	for i := range 3 {
		if code, _, msg := a.create("dave"); code != http.StatusCreated {
			t.Fatalf("dave's create %d on a, Redis down: %d %s", i+1, code, msg)
		}
	}
	if code, retry, _ := a.create("dave"); code != http.StatusTooManyRequests || retry != "100" {
		t.Errorf("dave's 4th create on a, Redis down: %d, Retry-After %q; want 429 from the in-process limit", code, retry)
	}
	if code, _, msg := b.create("dave"); code != http.StatusCreated {
		t.Errorf("dave's first create on b, Redis down: %d %s; b limits on its own", code, msg)
	}
	if !strings.Contains(logs.String(), "per-owner limits state unreachable in Redis") {
		t.Errorf("no warning about limiting in-process:\n%s", logs.String())
	}
}

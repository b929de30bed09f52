package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"recall/internal/httpapi"
	"recall/internal/ratelimit"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// spender is an analyzer that answers at once and reports tokens spent,
// as a model would.
type spender struct{ in, out int }

func (s spender) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	return recall.Analysis{Summary: "s", ActionItems: []string{"a"}, Keywords: []string{"k"}, Model: "m",
		Usage: recall.Usage{InputTokens: s.in, OutputTokens: s.out}, Calls: 1}, nil
}

func (spender) Health(context.Context) (string, error) { return "ok", nil }

// checkRetryAfter asserts w's Retry-After header is want seconds.
func checkRetryAfter(t *testing.T, w interface{ Header() http.Header }, want int) {
	t.Helper()
	if got := w.Header().Get("Retry-After"); got != strconv.Itoa(want) {
		t.Errorf("Retry-After %q, want %d", got, want)
	}
}

// TestOwnerRateLimitOverHTTP: creates and reprocesses share each owner's
// bucket; over it the answer is 429 rate_limited with Retry-After (whole
// seconds, rounded up) and a message naming the limit, and nothing is
// created. Other owners are not affected.
func TestOwnerRateLimitOverHTTP(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock()
	e := newServiceEnv(t, func(c *recall.Config) {
		c.Limiter = ratelimit.NewOwners(ratelimit.OwnerLimits{RequestsPerSecond: 0.5, Burst: 3, Now: clock.Now})
	})
	post := req{method: "POST", target: "/api/conversations", body: `{"content": "Ship it."}`, as: "alice"}
	first := decode[httpapi.Conversation](t, e.do(t, post))
	if w := e.do(t, post); w.Code != http.StatusCreated {
		t.Fatalf("second create: %d %s", w.Code, w.Body)
	}
	reprocess := req{method: "POST", target: "/api/conversations/" + first.ID + "/reprocess", as: "alice"}
	if w := e.do(t, reprocess); w.Code != http.StatusAccepted {
		t.Fatalf("reprocess within the burst: %d %s", w.Code, w.Body)
	}
	for _, r := range []req{post, reprocess} {
		w := e.do(t, r)
		checkError(t, w, http.StatusTooManyRequests, recall.ERATELIMITED, "0.5 conversations per second", "bursts of up to 3")
		checkRetryAfter(t, w, 2)
	}
	if page := decode[httpapi.ConversationList](t, e.do(t, req{method: "GET", target: "/api/conversations", as: "alice"})); len(page.Items) != 2 {
		t.Errorf("%d conversations after the refusals, want 2", len(page.Items))
	}
	if w := e.do(t, req{method: "POST", target: "/api/conversations", body: `{"content": "x"}`, as: "bob"}); w.Code != http.StatusCreated {
		t.Errorf("bob's first create: %d %s", w.Code, w.Body)
	}
	clock.Advance(2 * time.Second)
	if w := e.do(t, post); w.Code != http.StatusCreated {
		t.Errorf("after Retry-After: %d %s", w.Code, w.Body)
	}
}

// TestOwnerTokenBudgetOverHTTP: the worker counts what each finished
// analysis spent against its owner's day; once the budget is used up,
// creates and reprocesses answer 429 rate_limited with Retry-After until
// midnight UTC and a message naming the daily budget.
func TestOwnerTokenBudgetOverHTTP(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock()
	clock.Advance(time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC).Sub(clock.Now()))
	e := newServiceEnv(t, func(c *recall.Config) {
		c.Analyzer = spender{in: 50, out: 10}
		c.Limiter = ratelimit.NewOwners(ratelimit.OwnerLimits{TokensPerDay: 100, Now: clock.Now})
	})
	a := e.create(t, "alice", "Alice will send the deck.")
	drain := func() {
		t.Helper()
		if _, err := e.svc.Drain(t.Context(), time.Now().Add(30*time.Second), recall.WorkerConfig{Wait: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	drain() // 60 of 100
	e.create(t, "alice", "Bob will fix the login bug.")
	drain() // 120 of 100
	for _, r := range []req{
		{method: "POST", target: "/api/conversations", body: `{"content": "one more"}`, as: "alice"},
		{method: "POST", target: "/api/conversations/" + a.ID + "/reprocess", as: "alice"},
	} {
		w := e.do(t, r)
		checkError(t, w, http.StatusTooManyRequests, recall.ERATELIMITED, "120 of the 100 tokens", "per day (UTC)", "midnight UTC")
		checkRetryAfter(t, w, 3600)
	}
	if w := e.do(t, req{method: "GET", target: "/api/conversations/" + a.ID, as: "alice"}); w.Code != http.StatusOK {
		t.Errorf("reading is not limited: %d", w.Code)
	}
	e.create(t, "bob", "Bob's own budget is untouched.")
	clock.Advance(time.Hour)
	e.create(t, "alice", "A new UTC day.")
}

package recall_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

// throttleForever answers every analysis as a throttled model would.
type throttleForever struct{ calls int }

func (a *throttleForever) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	a.calls++
	return recall.Analysis{}, recall.Errorf(recall.ETHROTTLED, "slow down")
}

func (a *throttleForever) Health(context.Context) (string, error) { return "throttled", nil }

const keptThrottling = "analysis failed: the model kept throttling: gave up after "

// TestThrottlingForeverFailsTheRun: a model that throttles every call gets
// MaxThrottleRetries free tries, then spends attempts, and the run ends
// failed with an ai_error that says so, after exactly that many tries.
func TestThrottlingForeverFailsTheRun(t *testing.T) {
	t.Parallel()
	ai := &throttleForever{}
	h := newHarnessWith(t, func(c *recall.Config) { c.Analyzer, c.MaxThrottleRetries, c.MaxAttempts = ai, 4, 3 })
	c := h.create(t)
	got := h.run(t)
	want := "throttled,throttled,throttled,throttled,retry,retry,failed"
	if strings.Join(outcomeStrings(got), ",") != want {
		t.Fatalf("outcomes = %v, want %s", got, want)
	}
	c = h.get(t, c.ID)
	if c.Status != recall.StatusFailed || c.Attempts != 3 || ai.calls != 7 ||
		!strings.HasPrefix(c.Error, keptThrottling+"7 throttled tries over ") || !strings.HasSuffix(c.Error, "; raise the quota or BEDROCK_RPM") {
		t.Fatalf("status %s, attempts %d, %d model calls, ai_error %q", c.Status, c.Attempts, ai.calls, c.Error)
	}
	if dead, err := h.queue.DeadLetters(context.Background(), 10); err != nil || len(dead) != 1 {
		t.Fatalf("dead letters = %v, %v; want the run's job", dead, err)
	}
}

// TestThrottlingBedrockFailsTheRun: the same through the real Bedrock
// analyzer and client against the wire fake answering every Converse call
// with ThrottlingException: the run ends failed within the bound, one
// model call per throttled try.
func TestThrottlingBedrockFailsTheRun(t *testing.T) {
	t.Parallel()
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Default: bedrocktest.Error("ThrottlingException", "")})
	client, err := bedrock.NewClient(context.Background(), fake.Region(), bedrock.WithBaseEndpoint(fake.URL), bedrock.WithCredentials(fake.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	ai := bedrock.New(client, bedrock.Options{})
	h := newHarnessWith(t, func(c *recall.Config) { c.Analyzer, c.MaxThrottleRetries, c.MaxAttempts = ai, 3, 2 })
	c := h.create(t)
	start := time.Now()
	ctx := context.Background()
	for range 50 {
		jobs, err := h.queue.Receive(ctx, 1, 30*time.Second)
		if err != nil || len(jobs) == 0 {
			break
		}
		if h.svc.Handle(ctx, jobs[0]) == recall.OutcomeFailed {
			break
		}
	}
	c = h.get(t, c.ID)
	calls := len(fake.Requests())
	if c.Status != recall.StatusFailed || !strings.HasPrefix(c.Error, keptThrottling+"5 throttled tries over ") || calls != 5 {
		t.Fatalf("after %s: status %s, %d model calls, ai_error %q; want failed after 5 throttled tries", time.Since(start).Round(time.Millisecond), c.Status, calls, c.Error)
	}
	t.Logf("failed after %d throttled calls in %s: %s", calls, time.Since(start).Round(time.Millisecond), c.Error)
}

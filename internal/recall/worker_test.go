package recall_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

// scripted is an analyzer whose answers a test dictates, one per call; after
// the script runs out it answers like the local analyzer.
type scripted struct {
	mu     sync.Mutex
	script []error
	calls  atomic.Int32
	local  *extract.Analyzer
}

func (a *scripted) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	a.calls.Add(1)
	a.mu.Lock()
	var err error
	if len(a.script) > 0 {
		err, a.script = a.script[0], a.script[1:]
	}
	a.mu.Unlock()
	if err != nil {
		return recall.Analysis{}, err
	}
	return a.local.Analyze(ctx, in)
}

func (a *scripted) Health(context.Context) (string, error) { return "scripted", nil }

// flakyQueue fails Enqueue while down is set, as a Redis outage would.
type flakyQueue struct {
	*memq.Queue
	down atomic.Bool
}

func (q *flakyQueue) Enqueue(ctx context.Context, j recall.Job) error {
	if q.down.Load() {
		return recall.Errorf(recall.EUNAVAILABLE, "queue down")
	}
	return q.Queue.Enqueue(ctx, j)
}

// flakyStore fails Transition while down is set.
type flakyStore struct {
	*boltstore.Store
	down atomic.Bool
}

func (s *flakyStore) Transition(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	if s.down.Load() {
		return nil, errors.New("connection refused")
	}
	return s.Store.Transition(ctx, ref, t)
}

type harness struct {
	svc   *recall.Service
	store *flakyStore
	queue *flakyQueue
	ai    *scripted
	// now is added to the real time to make the service's clock: the
	// clock runs (holds and backoffs pass as the queue's delays do), and a
	// test moves it on by adding.
	now *atomic.Int64
}

func newHarness(t *testing.T, script ...error) *harness {
	t.Helper()
	return newHarnessWith(t, nil, script...)
}

// openStoreQueue returns an embedded store in a temporary directory and an
// in-process queue with a minute's visibility, both closed at cleanup.
func openStoreQueue(t *testing.T) (*boltstore.Store, *memq.Queue) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := memq.New(memq.Options{Visibility: time.Minute})
	t.Cleanup(func() { q.Close() })
	return st, q
}

// newHarnessWith is newHarness with the service's configuration changed by
// tune.
func newHarnessWith(t *testing.T, tune func(*recall.Config), script ...error) *harness {
	t.Helper()
	st, q := openStoreQueue(t)
	h := &harness{store: &flakyStore{Store: st}, queue: &flakyQueue{Queue: q}, ai: &scripted{script: script, local: extract.New(extract.Options{})}, now: &atomic.Int64{}}
	cfg := recall.Config{
		Store: h.store, Queue: h.queue, Analyzer: h.ai,
		Now:       func() time.Time { return time.Now().Add(time.Duration(h.now.Load())) },
		RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond, StaleAfter: 10 * time.Second,
	}
	if tune != nil {
		tune(&cfg)
	}
	h.svc = recall.NewService(cfg)
	return h
}

func (h *harness) create(t *testing.T) *recall.Conversation {
	t.Helper()
	c, _, err := h.svc.Create(context.Background(), "alice", recall.CreateRequest{Content: "Bob: I will send the report by Friday. We need to fix the build."}, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// next receives one job, waiting past any retry delay.
func (h *harness) next(t *testing.T) (recall.Job, bool) {
	t.Helper()
	jobs, err := h.queue.Receive(context.Background(), 1, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) == 0 {
		return recall.Job{}, false
	}
	return jobs[0], true
}

// run handles jobs until the queue stays empty, returning the outcomes.
func (h *harness) run(t *testing.T) []recall.Outcome {
	t.Helper()
	var out []recall.Outcome
	for len(out) < 100 {
		job, ok := h.next(t)
		if !ok {
			return out
		}
		out = append(out, h.svc.Handle(context.Background(), job))
	}
	t.Fatal("more than 100 jobs: a retry loop")
	return nil
}

func (h *harness) get(t *testing.T, id string) *recall.Conversation {
	t.Helper()
	c, err := h.svc.Get(context.Background(), "alice", id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWorkerOutcomes(t *testing.T) {
	t.Parallel()
	unavailable := recall.Errorf(recall.EUNAVAILABLE, "model busy")
	throttled := recall.Errorf(recall.ETHROTTLED, "slow down")
	tests := []struct {
		name      string
		script    []error
		outcomes  []recall.Outcome
		status    recall.Status
		attempts  int
		errSubstr string
		dead      int
	}{
		{"first try", nil, []recall.Outcome{recall.OutcomeDone}, recall.StatusDone, 1, "", 0},
		{"two transient failures then success", []error{unavailable, errors.New("connection reset")},
			[]recall.Outcome{recall.OutcomeRetry, recall.OutcomeRetry, recall.OutcomeDone}, recall.StatusDone, 3, "", 0},
		{"always failing gives up after five attempts", []error{unavailable, unavailable, unavailable, unavailable, unavailable},
			[]recall.Outcome{recall.OutcomeRetry, recall.OutcomeRetry, recall.OutcomeRetry, recall.OutcomeRetry, recall.OutcomeFailed},
			recall.StatusFailed, 5, "after 5 attempts: model busy", 1},
		{"permanent error fails at once", []error{recall.Errorf(recall.EPERMISSION, "model access for m is not enabled in us-east-1")},
			[]recall.Outcome{recall.OutcomeFailed}, recall.StatusFailed, 1, "model access for m is not enabled", 1},
		{"throttling spends no attempts", []error{throttled, throttled, throttled, throttled, throttled, throttled, unavailable},
			[]recall.Outcome{recall.OutcomeThrottled, recall.OutcomeThrottled, recall.OutcomeThrottled, recall.OutcomeThrottled,
				recall.OutcomeThrottled, recall.OutcomeThrottled, recall.OutcomeRetry, recall.OutcomeDone}, recall.StatusDone, 2, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.script...)
			c := h.create(t)
			got := h.run(t)
			if strings.Join(outcomeStrings(got), ",") != strings.Join(outcomeStrings(tt.outcomes), ",") {
				t.Fatalf("outcomes = %v, want %v", got, tt.outcomes)
			}
			c = h.get(t, c.ID)
			if c.Status != tt.status || c.Attempts != tt.attempts {
				t.Errorf("status %s attempts %d, want %s %d", c.Status, c.Attempts, tt.status, tt.attempts)
			}
			if tt.errSubstr != "" && !strings.Contains(c.Error, tt.errSubstr) {
				t.Errorf("ai_error = %q, want it to contain %q", c.Error, tt.errSubstr)
			}
			if tt.status == recall.StatusDone && (c.Summary == "" || c.Error != "" || c.ProcessedAt.IsZero()) {
				t.Errorf("done conversation incomplete: %+v", c)
			}
			dead, err := h.queue.DeadLetters(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != tt.dead {
				t.Errorf("dead letters = %d, want %d", len(dead), tt.dead)
			}
		})
	}
}

func outcomeStrings(os []recall.Outcome) []string {
	s := make([]string, len(os))
	for i, o := range os {
		s[i] = string(o)
	}
	return s
}

func TestDuplicateAndStaleDeliveriesLeaveOneResult(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.create(t)
	job, ok := h.next(t)
	if !ok {
		t.Fatal("no job")
	}
	if o := h.svc.Handle(context.Background(), job); o != recall.OutcomeDone {
		t.Fatalf("first delivery: %s", o)
	}
	first := h.get(t, c.ID)
	if o := h.svc.Handle(context.Background(), job); o != recall.OutcomeSkipped {
		t.Fatalf("duplicate delivery: %s, want skipped", o)
	}
	if again := h.get(t, c.ID); !again.UpdatedAt.Equal(first.UpdatedAt) || again.Attempts != 1 {
		t.Fatalf("duplicate delivery changed the record: %+v", again)
	}

	// Reprocess starts run 2; a late delivery of run 1 must not touch it.
	if _, err := h.svc.Reprocess(context.Background(), "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	if o := h.svc.Handle(context.Background(), job); o != recall.OutcomeSkipped {
		t.Fatalf("stale run delivery: %s, want skipped", o)
	}
	if got := h.run(t); len(got) != 1 || got[0] != recall.OutcomeDone {
		t.Fatalf("run 2 outcomes: %v", got)
	}
	if c = h.get(t, c.ID); c.Run != 2 || c.Status != recall.StatusDone {
		t.Fatalf("after reprocess: run %d status %s", c.Run, c.Status)
	}
}

// TestConcurrentDeliveriesOfOneJob: deliveries that race for one run make
// one model call; the others find the run held (deferred until the hold
// ends) or finished (skipped).
func TestConcurrentDeliveriesOfOneJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.create(t)
	job, _ := h.next(t)
	var wg sync.WaitGroup
	outcomes := make([]recall.Outcome, 4)
	for i := range outcomes {
		wg.Go(func() { outcomes[i] = h.svc.Handle(context.Background(), job) })
	}
	wg.Wait()
	done := 0
	for _, o := range outcomes {
		if o == recall.OutcomeDone {
			done++
		} else if o != recall.OutcomeSkipped && o != recall.OutcomeDeferred {
			t.Errorf("unexpected outcome %s", o)
		}
	}
	if done != 1 || h.ai.calls.Load() != 1 {
		t.Fatalf("%d deliveries wrote a result with %d model calls, want exactly 1 and 1 (%v)", done, h.ai.calls.Load(), outcomes)
	}
	if c = h.get(t, c.ID); c.Status != recall.StatusDone {
		t.Fatalf("status %s", c.Status)
	}
}

func TestStoreFaultReleasesTheJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.create(t)
	job, _ := h.next(t)
	h.store.down.Store(true)
	if o := h.svc.Handle(context.Background(), job); o != recall.OutcomeReleased {
		t.Fatalf("outcome with the store down: %s, want released", o)
	}
	h.store.down.Store(false)
	if got := h.run(t); len(got) != 1 || got[0] != recall.OutcomeDone {
		t.Fatalf("after the store came back: %v", got)
	}
	if c = h.get(t, c.ID); c.Status != recall.StatusDone || c.Attempts != 1 {
		t.Fatalf("status %s attempts %d: a store fault must not spend an attempt", c.Status, c.Attempts)
	}
}

func TestRepeatedlyDyingAttemptsEndFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.create(t)
	job, _ := h.next(t)
	// Five attempts that started and never finished, as after five crashes.
	for range 5 {
		if _, err := h.store.Transition(context.Background(), job.Ref(), recall.Transition{Event: recall.EventStart, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if o := h.svc.Handle(context.Background(), job); o != recall.OutcomeFailed {
		t.Fatalf("sixth delivery: %s, want failed", o)
	}
	if c = h.get(t, c.ID); c.Status != recall.StatusFailed || !strings.Contains(c.Error, "never finished") {
		t.Fatalf("status %s error %q", c.Status, c.Error)
	}
	if n := h.ai.calls.Load(); n != 0 {
		t.Fatalf("analyzer called %d times for a crash-looping job", n)
	}
}

func TestCreateSurvivesQueueOutageAndSweepRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.queue.down.Store(true)
	c := h.create(t) // must succeed: the conversation is durable
	if _, ok := h.next(t); ok {
		t.Fatal("a job was enqueued while the queue was down")
	}
	// Not yet stale: the sweeper leaves it alone.
	h.queue.down.Store(false)
	if n, err := h.svc.Sweep(context.Background(), 10); err != nil || n != 0 {
		t.Fatalf("early sweep enqueued %d (%v), want 0", n, err)
	}
	h.now.Add(int64(11 * time.Second))
	if n, err := h.svc.Sweep(context.Background(), 10); err != nil || n != 1 {
		t.Fatalf("sweep enqueued %d (%v), want 1", n, err)
	}
	// A second sweep finds the job still queued: no duplicate.
	if _, err := h.svc.Sweep(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	if got := h.run(t); len(got) != 1 || got[0] != recall.OutcomeDone {
		t.Fatalf("outcomes after sweep: %v", got)
	}
	if c = h.get(t, c.ID); c.Status != recall.StatusDone {
		t.Fatalf("status %s", c.Status)
	}
}

func TestStoreOutageOnCreateIsUnavailable(t *testing.T) {
	t.Parallel()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	svc := recall.NewService(recall.Config{Store: st, Queue: memq.New(memq.Options{}), Analyzer: extract.New(extract.Options{})})
	_, _, err = svc.Create(context.Background(), "alice", recall.CreateRequest{Content: "hello"}, "k1")
	if recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Fatalf("create with the store closed: %v, want code unavailable", err)
	}
	// The write may have landed before a timeout: the message must not
	// say nothing was saved.
	if msg := recall.ErrorMessage(err); !strings.Contains(msg, "may or may not have been saved; retry with the same Idempotency-Key") {
		t.Errorf("message %q does not say the create may have been saved and how to retry", msg)
	}
}

func TestDrainStopsBeforeDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 5 {
		h.create(t)
	}
	// With less time left than one analysis may take, Drain takes nothing.
	rep, err := h.svc.Drain(context.Background(), time.Now().Add(time.Second), recall.WorkerConfig{Wait: 50 * time.Millisecond})
	if err != nil || rep.Jobs != 0 {
		t.Fatalf("drain near the deadline took %d jobs (%v)", rep.Jobs, err)
	}
	rep, err = h.svc.Drain(context.Background(), time.Now().Add(h.svc.Config().AnalyzeTimeout+30*time.Second), recall.WorkerConfig{Wait: 50 * time.Millisecond})
	if err != nil || rep.Outcomes[recall.OutcomeDone] != 5 {
		t.Fatalf("drain = %+v, %v; want 5 done", rep, err)
	}
}

func TestBackoffGrowsAndStaysBounded(t *testing.T) {
	t.Parallel()
	svc := recall.NewService(recall.Config{Store: nil, Queue: nil, Analyzer: nil, RetryBase: time.Second, RetryMax: 30 * time.Second})
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{6, 15 * time.Second, 30 * time.Second},
		{50, 15 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			if d := svc.Backoff(tt.attempt); d < tt.min || d > tt.max {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}

// TestPacedJobWaitsForTheLimiter: a throttle that says when a call could go
// out (a pacing limiter's wait) puts the job back for at least that long, so
// a paced job does not spin through the queue while no call can be made.
func TestPacedJobWaitsForTheLimiter(t *testing.T) {
	t.Parallel()
	paced := recall.Wrap(errors.New("bedrock: pacing wait would outlast the deadline"), recall.ETHROTTLED, "pacing")
	paced.RetryAfter = 400 * time.Millisecond
	h := newHarness(t, recall.Wrap(paced, recall.ETHROTTLED, "outer"))
	c := h.create(t)
	job, _ := h.next(t)
	if o := h.svc.Handle(context.Background(), job); o != recall.OutcomeThrottled {
		t.Fatalf("outcome %s, want throttled", o)
	}
	// The harness's base backoff is 1ms: without the hint the job would be
	// back at once.
	if jobs, err := h.queue.Receive(context.Background(), 1, 150*time.Millisecond); err != nil || len(jobs) != 0 {
		t.Fatalf("paced job redelivered before the limiter's wait: %v %v", jobs, err)
	}
	jobs, err := h.queue.Receive(context.Background(), 1, 3*time.Second)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("paced job not redelivered after the wait: %v %v", jobs, err)
	}
	if o := h.svc.Handle(context.Background(), jobs[0]); o != recall.OutcomeDone {
		t.Fatalf("after the wait: %s", o)
	}
	if c = h.get(t, c.ID); c.Status != recall.StatusDone || c.Attempts != 1 {
		t.Fatalf("status %s attempts %d; want done on the first counted attempt", c.Status, c.Attempts)
	}
}

func TestRetryAfterTakesTheLargestHintInTheChain(t *testing.T) {
	t.Parallel()
	inner := recall.Errorf(recall.ETHROTTLED, "inner")
	inner.RetryAfter = 3 * time.Second
	outer := recall.Wrap(inner, recall.ETHROTTLED, "outer")
	outer.RetryAfter = time.Second
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("x"), 0},
		{"no hint", recall.Errorf(recall.EUNAVAILABLE, "down"), 0},
		{"nested", fmt.Errorf("analyze: %w", outer), 3 * time.Second},
	}
	for _, tt := range tests {
		if got := recall.RetryAfter(tt.err); got != tt.want {
			t.Errorf("%s: RetryAfter = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestDrainAndDirectCallRaceForOneRun: a scheduled drain and a direct call
// that race for one conversation make one model call between them, every
// time.
func TestDrainAndDirectCallRaceForOneRun(t *testing.T) {
	t.Parallel()
	st, q := openStoreQueue(t)
	recalltest.DrainRace(t, st, q, 100)
}

// TestDirectRetryKeepsItsBackoff: a retry decided on the direct path (no
// receipt, so the queue keeps its job as it is) still waits out its
// backoff: the queued job, delivered at once, is deferred until the
// conversation's hold ends, not run.
func TestDirectRetryKeepsItsBackoff(t *testing.T) {
	t.Parallel()
	// A backoff of 0.5 to 1s: long enough that the steps below happen
	// within it on a busy machine.
	h := newHarnessWith(t, func(c *recall.Config) { c.RetryBase, c.RetryMax = time.Second, 2*time.Second },
		recall.Errorf(recall.EUNAVAILABLE, "model busy"))
	ctx := context.Background()
	c := h.create(t)
	if o, err := h.svc.ProcessNow(ctx, "alice", c.ID); err != nil || o != recall.OutcomeRetry {
		t.Fatalf("direct call: %s, %v; want retry", o, err)
	}
	held := h.get(t, c.ID)
	if held.Status != recall.StatusPending || !held.LeaseUntil.After(time.Now()) {
		t.Fatalf("after the retry: %s, held until %s; want pending and held for the backoff", held.Status, held.LeaseUntil)
	}
	// The job create queued is still there and comes at once.
	job, ok := h.next(t)
	if !ok {
		t.Fatal("the queued job is gone")
	}
	if o := h.svc.Handle(ctx, job); o != recall.OutcomeDeferred {
		t.Fatalf("the queued job during the backoff: %s, want deferred", o)
	}
	if n := h.ai.calls.Load(); n != 1 {
		t.Fatalf("%d model calls during the backoff, want 1", n)
	}
	jobs, err := h.queue.Receive(ctx, 1, 3*time.Second)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("the deferred job did not come back: %v %v", jobs, err)
	}
	if now := time.Now(); now.Before(held.LeaseUntil) {
		t.Fatalf("the deferred job came back at %s, before the backoff ended at %s", now, held.LeaseUntil)
	}
	if o := h.svc.Handle(ctx, jobs[0]); o != recall.OutcomeDone {
		t.Fatalf("after the backoff: %s, want done", o)
	}
	if c = h.get(t, c.ID); c.Status != recall.StatusDone || c.Attempts != 2 || h.ai.calls.Load() != 2 || !c.LeaseUntil.IsZero() {
		t.Fatalf("status %s, attempts %d, %d model calls, held until %s; want done, 2, 2, not held", c.Status, c.Attempts, h.ai.calls.Load(), c.LeaseUntil)
	}
}

// TestLeasedRunIsNotStartedAgain: a delivery that finds its run held by a
// live attempt is deferred by the hold's remaining time, with nothing
// written and no attempt spent; the direct path skips it.
func TestLeasedRunIsNotStartedAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	c := h.create(t)
	job, _ := h.next(t)
	at := time.Now()
	started, err := h.store.Transition(ctx, job.Ref(), recall.Transition{Event: recall.EventStart, At: at, LeaseUntil: at.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := h.svc.ProcessNow(ctx, "alice", c.ID); err != nil || o != recall.OutcomeSkipped {
		t.Fatalf("direct call on a held run: %s, %v; want skipped", o, err)
	}
	if o := h.svc.Handle(ctx, job); o != recall.OutcomeDeferred {
		t.Fatalf("delivery on a held run: %s, want deferred", o)
	}
	if got := h.get(t, c.ID); got.Attempts != 1 || !got.UpdatedAt.Equal(started.UpdatedAt) || h.ai.calls.Load() != 0 {
		t.Fatalf("the held run changed: attempts %d, updated %s (was %s), %d model calls", got.Attempts, got.UpdatedAt, started.UpdatedAt, h.ai.calls.Load())
	}
	// The holder died: once its hold has passed the job runs, as attempt 2.
	if jobs, err := h.queue.Receive(ctx, 1, 200*time.Millisecond); err != nil || len(jobs) != 0 {
		t.Fatalf("the deferred job came back before the hold ended: %v %v", jobs, err)
	}
	jobs, err := h.queue.Receive(ctx, 1, 3*time.Second)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("the deferred job did not come back: %v %v", jobs, err)
	}
	if o := h.svc.Handle(ctx, jobs[0]); o != recall.OutcomeDone {
		t.Fatalf("after the hold: %s, want done", o)
	}
	if c = h.get(t, c.ID); c.Status != recall.StatusDone || c.Attempts != 2 {
		t.Fatalf("status %s attempts %d, want done 2", c.Status, c.Attempts)
	}
}

package recalltest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"recall/internal/recall"
)

// countingAnalyzer counts model calls per conversation and takes a little
// while over each, so racing callers overlap.
type countingAnalyzer struct {
	mu    sync.Mutex
	calls map[string]int
}

func (a *countingAnalyzer) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	a.mu.Lock()
	a.calls[in.ConversationID]++
	a.mu.Unlock()
	if err := recall.Sleep(ctx, 3*time.Millisecond); err != nil {
		return recall.Analysis{}, recall.Wrap(err, recall.EUNAVAILABLE, "analysis cut off")
	}
	return recall.Analysis{Summary: "s", ActionItems: []string{"a"}, Keywords: []string{"k"}, Model: "counting"}, nil
}

func (a *countingAnalyzer) Health(context.Context) (string, error) { return "counting", nil }

func (a *countingAnalyzer) count(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[id]
}

// DrainRace races a scheduled drain (Service.Drain, which receives the job
// create queued) against a direct call (Service.ProcessNow, what the
// process function's direct invocation runs) on one new conversation,
// rounds times, over store and queue. Every round must end done after
// exactly one model call: whichever caller starts the run holds it, and the
// other skips it or defers its job. Jobs deferred in one round are met by
// later rounds' drains and skipped.
func DrainRace(t *testing.T, store recall.Store, queue recall.Queue, rounds int) {
	t.Helper()
	ai := &countingAnalyzer{calls: map[string]int{}}
	svc := recall.NewService(recall.Config{Store: store, Queue: queue, Analyzer: ai,
		AnalyzeTimeout: 2 * time.Second, LeaseMargin: time.Second, RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond})
	ctx := storeCtx(t)
	perConversation := map[int]int{}
	for round := range rounds {
		c, _, err := svc.Create(ctx, "racer", recall.CreateRequest{Content: fmt.Sprintf("Round %d: Alice will send the deck by Friday.", round)}, "")
		if err != nil {
			t.Fatalf("round %d: create: %v", round, err)
		}
		var (
			wg        sync.WaitGroup
			drainErr  error
			direct    recall.Outcome
			directErr error
		)
		begin := make(chan struct{})
		wg.Go(func() {
			<-begin
			_, drainErr = svc.Drain(ctx, time.Now().Add(svc.Config().AnalyzeTimeout+2*time.Second), recall.WorkerConfig{Concurrency: 2, Wait: 20 * time.Millisecond})
		})
		wg.Go(func() {
			<-begin
			direct, directErr = svc.ProcessNow(ctx, "racer", c.ID)
		})
		close(begin)
		wg.Wait()
		if drainErr != nil || directErr != nil {
			t.Fatalf("round %d: drain: %v; direct: %v", round, drainErr, directErr)
		}
		got, err := store.Get(ctx, "racer", c.ID)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		n := ai.count(c.ID)
		perConversation[n]++
		if n != 1 || got.Status != recall.StatusDone || got.Attempts != 1 {
			t.Errorf("round %d: %d model calls, status %s, %d attempts (direct call: %s); want 1 call, done, 1 attempt", round, n, got.Status, got.Attempts, direct)
		}
	}
	t.Logf("model calls per conversation over %d rounds (calls: rounds): %v", rounds, perConversation)
}

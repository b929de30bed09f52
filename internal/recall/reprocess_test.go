package recall_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/recall"
)

// slowAnalyzer counts model calls and takes took over each.
type slowAnalyzer struct {
	took  time.Duration
	calls atomic.Int32
}

func (a *slowAnalyzer) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	a.calls.Add(1)
	if err := recall.Sleep(ctx, a.took); err != nil {
		return recall.Analysis{}, recall.Wrap(err, recall.EUNAVAILABLE, "cut off")
	}
	return recall.Analysis{Summary: "s", ActionItems: []string{"a"}, Keywords: []string{"k"}, Model: "slow"}, nil
}

func (a *slowAnalyzer) Health(context.Context) (string, error) { return "slow", nil }

// TestRepeatedReprocessMakesOneModelCall: 20 reprocesses of one
// conversation within a second, with eight worker slots free, start one
// run and so one model call; every answer is that run.
func TestRepeatedReprocessMakesOneModelCall(t *testing.T) {
	t.Parallel()
	st, q := openStoreQueue(t)
	ai := &slowAnalyzer{took: 2500 * time.Millisecond} // longer than the 20 requests take
	svc := recall.NewService(recall.Config{Store: st, Queue: q, Analyzer: ai, AnalyzeTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() { worked <- svc.Work(ctx, recall.WorkerConfig{Concurrency: 8, Wait: 20 * time.Millisecond}) }()
	t.Cleanup(func() { cancel(); <-worked })

	c, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Alice will send the deck by Friday."}, "")
	if err != nil {
		t.Fatal(err)
	}
	c = waitStatus(t, svc, c.ID, recall.StatusDone, 5*time.Second)
	ai.calls.Store(0)

	runs := map[int]int{} // answered run: how many answers
	for i := range 20 {
		got, err := svc.Reprocess(ctx, "alice", c.ID)
		if err != nil {
			t.Fatalf("reprocess %d: %v", i+1, err)
		}
		if !got.Status.InProgress() {
			t.Errorf("reprocess %d answered a run that is %s", i+1, got.Status)
		}
		runs[got.Run]++
		time.Sleep(50 * time.Millisecond)
	}
	if runs[c.Run+1] != 20 {
		t.Errorf("the 20 answers named runs %v, want all run %d", runs, c.Run+1)
	}
	done := waitStatus(t, svc, c.ID, recall.StatusDone, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // any other run would have started by now
	if n := ai.calls.Load(); n != 1 || done.Run != c.Run+1 {
		t.Fatalf("20 reprocesses in a second made %d model calls and ended on run %d; want 1 call, run %d", n, done.Run, c.Run+1)
	}
}

// waitStatus polls until conversation id of alice is in status, or fails t
// after within.
func waitStatus(t *testing.T, svc *recall.Service, id string, status recall.Status, within time.Duration) *recall.Conversation {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := svc.Get(context.Background(), "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status == status {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s after %s, want %s", id, c.Status, within, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

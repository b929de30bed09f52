package lambdafn_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/lambdafn"
	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

// TestProcessScheduledPrunesConsumers: every Lambda container registers a
// Redis consumer, and a container that is gone leaves it behind. The
// scheduled drain removes those that hold nothing and are dead or idle
// (here one without a heartbeat record, which only pruning removes), keeps
// its own, and still processes the queue.
func TestProcessScheduledPrunesConsumers(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	client, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ctx := t.Context()
	// A container that drained once and is gone (its heartbeat lapsed),
	// and one from before heartbeats, idle since.
	gone := redisq.New(client, redisq.Options{Consumer: "lambda-gone-1"})
	if _, err := gone.Receive(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	gone.Close()
	if err := client.XGroupCreateConsumer(ctx, gone.Keys()[1], redisq.DefaultGroup, "lambda-gone-2").Err(); err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	queue := redisq.New(client, redisq.Options{Consumer: "lambda-now"})
	t.Cleanup(func() { queue.Close() })
	svc := recall.NewService(recall.Config{Store: store, Queue: queue, Analyzer: extract.New(extract.Options{}), AnalyzeTimeout: 2 * time.Second})
	if _, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Ravi will renew the TLS certificates before Thursday."}, ""); err != nil {
		t.Fatal(err)
	}

	time.Sleep(50 * time.Millisecond)
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{Budget: 4 * time.Second, PruneIdle: 20 * time.Millisecond,
		Worker: recall.WorkerConfig{Wait: 50 * time.Millisecond}})
	res, err := process(context.WithoutCancel(ctx), fixture(t, "process-scheduled.json", ""))
	if err != nil || res.Drain.Outcomes[recall.OutcomeDone] != 1 {
		t.Fatalf("drain: %+v %v", res.Drain, err)
	}
	st, err := queue.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range st.Consumers {
		names = append(names, c.Name)
	}
	if slices.Contains(names, "lambda-gone-1") || slices.Contains(names, "lambda-gone-2") || !slices.Contains(names, "lambda-now") {
		t.Errorf("consumers after the scheduled drain: %v; want the gone containers pruned, this one kept", names)
	}
}

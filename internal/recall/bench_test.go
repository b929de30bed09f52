package recall_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

// doneCounter counts jobs that wrote a result, to know when a run is over.
type doneCounter struct{ done atomic.Int64 }

func (d *doneCounter) ConversationCreated(recall.Priority) {}
func (d *doneCounter) JobFinished(o recall.Outcome, _ int, _ time.Duration, _ *recall.Analysis) {
	if o == recall.OutcomeDone {
		d.done.Add(1)
	}
}

// BenchmarkWorkerRedis measures the whole worker, for scale: Service.Work
// with its default concurrency on the Redis queue, the embedded store and the
// local analyzer, processing b.N conversations created beforehand (creation
// is not timed). It reports conversations processed per second.
func BenchmarkWorkerRedis(b *testing.B) {
	srv := testenv.StartRedis(b)
	client, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	counter := &doneCounter{}
	svc := recall.NewService(recall.Config{
		Store: st, Queue: redisq.New(client, redisq.Options{Consumer: "bench"}), Analyzer: extract.New(extract.Options{}),
		Observer: counter,
	})
	ctx := context.Background()
	content := "Alice: I will send the budget deck by Friday. Bob: we need to fix the login bug before the release. " +
		"Carol: the vendor contract is still unsigned, so please loop in legal. The launch moves to March 14."
	for i := range b.N {
		if _, _, err := svc.Create(ctx, "bench", recall.CreateRequest{Content: fmt.Sprintf("%s (%d)", content, i)}, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Work(wctx, recall.WorkerConfig{Wait: 50 * time.Millisecond}) }()
	for counter.done.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	stop()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "conversations/s")
}

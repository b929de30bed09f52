package redisq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

// benchQueue starts a server and returns a queue on it.
func benchQueue(b *testing.B) *redisq.Queue {
	b.Helper()
	srv := testenv.StartRedis(b)
	c, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return redisq.New(c, redisq.Options{Prefix: "bench", Visibility: time.Minute})
}

// benchJob is job i of a benchmark round.
func benchJob(round, i int) recall.Job {
	return recall.Job{ConversationID: fmt.Sprintf("r%d-%d", round, i), Owner: "bench", Run: 1,
		Priority: recall.PriorityDefault, Attempt: 1, EnqueuedAt: time.Now()}
}

// fill enqueues n jobs from several goroutines (not part of any timing).
func fill(b *testing.B, q *redisq.Queue, round, n int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Value
	const workers = 16
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := q.Enqueue(ctx, benchJob(round, i)); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDrain empties a queue of 10,000 jobs with receives of up to 64
// and one batched ack per receive, the handler doing nothing. It fails
// unless every enqueued job came back exactly once and the queue ends
// empty, so a queue that delivered some jobs twice cannot report a higher
// rate. BenchmarkDrainBaseline is the same work on bare streams.
func BenchmarkDrain(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	b.ResetTimer()
	var took time.Duration
	for round := range b.N {
		b.StopTimer()
		fill(b, q, round, drainJobs)
		got := make([]string, 0, drainJobs)
		b.StartTimer()
		start := time.Now()
		for len(got) < drainJobs {
			batch, err := q.Receive(ctx, 64, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if len(batch) == 0 {
				b.Fatalf("queue ran dry after %d of %d jobs", len(got), drainJobs)
			}
			if err := q.Ack(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			for _, j := range batch {
				got = append(got, j.Key())
			}
		}
		took += time.Since(start)
		b.StopTimer()
		requireDrained(b, q, round, drainJobs, got)
		b.StartTimer()
	}
	b.ReportMetric(float64(drainJobs*b.N)/took.Seconds(), "jobs/s")
}

// drainJobs is how many jobs BenchmarkDrain and BenchmarkDrainBaseline move
// per round.
const drainJobs = 10_000

// BenchmarkDrainBaseline is the floor BenchmarkDrain is measured against:
// a bare go-redis loop over one stream on the same kind of server, holding
// the same job JSON, XREADGROUP COUNT 64 and one XACK per batch, with none
// of the queue's work (priorities, idempotent enqueue, retries, deleting
// acked entries, decoding jobs). Run both in one `go test -bench 'Drain'`
// and compare jobs/s.
func BenchmarkDrainBaseline(b *testing.B) {
	srv := testenv.StartRedis(b)
	c, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	const stream, group, consumer = "baseline", "workers", "bench"
	if err := c.XGroupCreateMkStream(ctx, stream, group, "$").Err(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var took time.Duration
	for round := range b.N {
		b.StopTimer()
		if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range drainJobs {
				payload, err := json.Marshal(benchJob(round, i))
				if err != nil {
					return err
				}
				p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"j", string(payload)}})
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		got := make([]string, 0, drainJobs)
		b.StartTimer()
		start := time.Now()
		for len(got) < drainJobs {
			res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer,
				Streams: []string{stream, ">"}, Count: 64, Block: time.Second}).Result()
			if err != nil {
				b.Fatalf("after %d of %d entries: %v", len(got), drainJobs, err)
			}
			msgs := res[0].Messages
			ids := make([]string, len(msgs))
			for i, m := range msgs {
				ids[i] = m.ID
			}
			if err := c.XAck(ctx, stream, group, ids...).Err(); err != nil {
				b.Fatal(err)
			}
			got = append(got, ids...)
		}
		took += time.Since(start)
		b.StopTimer()
		if n, err := c.XPending(ctx, stream, group).Result(); err != nil || n.Count != 0 || len(got) != drainJobs {
			b.Fatalf("after the drain: %d entries read, pending %+v, %v", len(got), n, err)
		}
		c.XTrimMaxLen(ctx, stream, 0)
		b.StartTimer()
	}
	b.ReportMetric(float64(drainJobs*b.N)/took.Seconds(), "jobs/s")
}

// requireDrained fails the benchmark unless got holds each of the n jobs
// fill enqueued for round exactly once and q holds nothing any more.
func requireDrained(b *testing.B, q recall.Queue, round, n int, got []string) {
	b.Helper()
	seen := make(map[string]bool, len(got))
	for _, k := range got {
		if seen[k] {
			b.Fatalf("job %s delivered twice", k)
		}
		seen[k] = true
	}
	for i := range n {
		if k := benchJob(round, i).Key(); !seen[k] {
			b.Fatalf("job %s never delivered (%d distinct of %d)", k, len(seen), n)
		}
	}
	if len(seen) != n {
		b.Fatalf("%d distinct jobs delivered, %d enqueued", len(seen), n)
	}
	st, err := q.Stats(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if st.InFlight != 0 || st.Scheduled != 0 || st.Depth[recall.PriorityHigh]+st.Depth[recall.PriorityDefault]+st.Depth[recall.PriorityLow] != 0 {
		b.Fatalf("queue not empty after the drain: %+v", st)
	}
}

// BenchmarkEnqueue enqueues one job per call, one call at a time, from one
// client.
func BenchmarkEnqueue(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	now := time.Now()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		j := recall.Job{ConversationID: fmt.Sprintf("e%d", i), Owner: "bench", Run: 1,
			Priority: recall.Priorities[i%3], Attempt: 1, EnqueuedAt: now}
		if err := q.Enqueue(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchmarkEnqueueParallel enqueues one job per call from one client shared
// by GOMAXPROCS*4 goroutines, as concurrent HTTP requests would.
func BenchmarkEnqueueParallel(b *testing.B) {
	q := benchQueue(b)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			j := recall.Job{ConversationID: fmt.Sprintf("p%d", i), Owner: "bench", Run: 1,
				Priority: recall.PriorityDefault, Attempt: 1, EnqueuedAt: time.Now()}
			if err := q.Enqueue(ctx, j); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

// BenchmarkSlowHandler runs 1,000 queued jobs whose handler sleeps 50ms
// through 50 slots, receiving for free slots and acking each job as it
// finishes, the way the worker does. 1,000 jobs/s is the ceiling.
func BenchmarkSlowHandler(b *testing.B) {
	q := benchQueue(b)
	slowHandler(b, q, func(round, n int) { fill(b, q, round, n) })
}

// BenchmarkSlowHandlerInProcess is BenchmarkSlowHandler on memq: the same
// loop without Redis, so what is left of the gap to 1,000 jobs/s is the
// machine's timer and scheduler slack, not the queue.
func BenchmarkSlowHandlerInProcess(b *testing.B) {
	q := memq.New(memq.Options{Visibility: time.Minute})
	b.Cleanup(func() { q.Close() })
	slowHandler(b, q, func(round, n int) {
		for i := range n {
			if err := q.Enqueue(context.Background(), benchJob(round, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// slowHandler fails unless every enqueued job came back exactly once and
// the queue ends empty, as BenchmarkDrain does.
func slowHandler(b *testing.B, q recall.Queue, fill func(round, n int)) {
	const jobs, slots = 1000, 50
	const work = 50 * time.Millisecond
	ctx := context.Background()
	b.ResetTimer()
	var took time.Duration
	for round := range b.N {
		b.StopTimer()
		fill(round, jobs)
		got := make([]string, 0, jobs)
		b.StartTimer()
		start := time.Now()
		sem := make(chan struct{}, slots)
		var wg sync.WaitGroup
		for len(got) < jobs {
			sem <- struct{}{}
			free := 1
			for len(sem) < cap(sem) {
				sem <- struct{}{}
				free++
			}
			batch, err := q.Receive(ctx, free, 100*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			for range free - len(batch) {
				<-sem
			}
			for _, j := range batch {
				got = append(got, j.Key())
				wg.Go(func() {
					defer func() { <-sem }()
					time.Sleep(work)
					if err := q.Ack(ctx, j); err != nil {
						b.Error(err)
					}
				})
			}
		}
		wg.Wait()
		took += time.Since(start)
		b.StopTimer()
		requireDrained(b, q, round, jobs, got)
		b.StartTimer()
	}
	b.ReportMetric(float64(jobs*b.N)/took.Seconds(), "jobs/s")
}

// BenchmarkFairShare measures what one owner's backlog costs another,
// through the whole worker on Redis: owner A creates 1,000 conversations
// and owner B 10 right after, then Service.Work (concurrency 8, the
// embedded store, the local analyzer taking 5ms per analysis as a stand-in
// for a model) runs them. It reports the seconds until all of B's are done
// and until all of A's are; with the fair share B waits behind about 16 of
// A's jobs, not all 1,000.
func BenchmarkFairShare(b *testing.B) {
	srv := testenv.StartRedis(b)
	c, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	var bDone, aDone time.Duration
	for round := range b.N {
		b.StopTimer()
		q := redisq.New(c, redisq.Options{Prefix: fmt.Sprintf("fair-%d-%d", os.Getpid(), round), Visibility: time.Minute})
		b.Cleanup(func() { q.Close() })
		svc, done, ids := fairShareService(b, q)
		b.StartTimer()
		tb, ta := timeToDone(b, svc, done, ids)
		bDone += tb
		aDone += ta
	}
	b.ReportMetric(bDone.Seconds()/float64(b.N), "b_done_s")
	b.ReportMetric(aDone.Seconds()/float64(b.N), "a_done_s")
}

// fairShareService builds BenchmarkFairShare's service over q, with owner
// A's 1,000 conversations and then owner B's 10 created, and returns B's ids.
func fairShareService(b *testing.B, q recall.Queue) (*recall.Service, *atomic.Int64, []string) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	done := &doneCount{}
	svc := recall.NewService(recall.Config{Store: st, Queue: q, Observer: done,
		Analyzer: extract.New(extract.Options{Latency: 5 * time.Millisecond})})
	ctx := context.Background()
	create := func(owner string, i int) string {
		c, _, err := svc.Create(ctx, owner, recall.CreateRequest{Content: fmt.Sprintf("Alice will send the deck by Friday (%s %d).", owner, i)}, "")
		if err != nil {
			b.Fatal(err)
		}
		return c.ID
	}
	for i := range 1000 {
		create("owner-a", i)
	}
	var ids []string
	for i := range 10 {
		ids = append(ids, create("owner-b", i))
	}
	return svc, &done.n, ids
}

// timeToDone runs the worker until all 1,010 conversations are done and
// returns when owner B's (ids) were all done and when everything was.
func timeToDone(b *testing.B, svc *recall.Service, done *atomic.Int64, ids []string) (bDone, all time.Duration) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	worked := make(chan error, 1)
	start := time.Now()
	go func() { worked <- svc.Work(ctx, recall.WorkerConfig{Concurrency: 8, Wait: 50 * time.Millisecond}) }()
	left := ids
	for len(left) > 0 || done.Load() < 1010 {
		if time.Since(start) > 2*time.Minute {
			b.Fatalf("only %d of 1,010 done after 2 minutes", done.Load())
		}
		for len(left) > 0 {
			c, err := svc.Get(ctx, "owner-b", left[0])
			if err != nil {
				b.Fatal(err)
			}
			if c.Status != recall.StatusDone {
				break
			}
			if left = left[1:]; len(left) == 0 {
				bDone = time.Since(start)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	all = time.Since(start)
	stop()
	if err := <-worked; err != nil {
		b.Fatal(err)
	}
	return bDone, all
}

// doneCount counts analyses that ended done.
type doneCount struct{ n atomic.Int64 }

func (d *doneCount) ConversationCreated(recall.Priority) {}
func (d *doneCount) JobFinished(o recall.Outcome, _ int, _ time.Duration, _ *recall.Analysis) {
	if o == recall.OutcomeDone {
		d.n.Add(1)
	}
}

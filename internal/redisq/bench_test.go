package redisq_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
				j := recall.Job{ConversationID: fmt.Sprintf("r%d-%d", round, i), Owner: "bench", Run: 1,
					Priority: recall.PriorityDefault, Attempt: 1, EnqueuedAt: time.Now()}
				if err := q.Enqueue(ctx, j); err != nil {
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
// and one batched ack per receive, the handler doing nothing.
func BenchmarkDrain(b *testing.B) {
	const jobs = 10_000
	q := benchQueue(b)
	ctx := context.Background()
	b.ResetTimer()
	var took time.Duration
	for round := range b.N {
		b.StopTimer()
		fill(b, q, round, jobs)
		b.StartTimer()
		start := time.Now()
		for n := 0; n < jobs; {
			batch, err := q.Receive(ctx, 64, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if len(batch) == 0 {
				b.Fatalf("queue ran dry after %d of %d jobs", n, jobs)
			}
			if err := q.Ack(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			n += len(batch)
		}
		took += time.Since(start)
	}
	b.ReportMetric(float64(jobs*b.N)/took.Seconds(), "jobs/s")
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
			j := recall.Job{ConversationID: fmt.Sprintf("r%d-%d", round, i), Owner: "bench", Run: 1,
				Priority: recall.PriorityDefault, Attempt: 1, EnqueuedAt: time.Now()}
			if err := q.Enqueue(context.Background(), j); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func slowHandler(b *testing.B, q recall.Queue, fill func(round, n int)) {
	const jobs, slots = 1000, 50
	const work = 50 * time.Millisecond
	ctx := context.Background()
	b.ResetTimer()
	var took time.Duration
	for round := range b.N {
		b.StopTimer()
		fill(round, jobs)
		b.StartTimer()
		start := time.Now()
		sem := make(chan struct{}, slots)
		var wg sync.WaitGroup
		for received := 0; received < jobs; {
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
			received += len(batch)
			for _, j := range batch {
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
	}
	b.ReportMetric(float64(jobs*b.N)/took.Seconds(), "jobs/s")
}

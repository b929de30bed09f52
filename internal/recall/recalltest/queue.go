package recalltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"recall/internal/recall"
)

// OpenQueue returns a fresh, empty queue for one subtest whose visibility
// timeout is the one given. The suite asks for a long timeout everywhere
// except where it checks redelivery, so a slow race-enabled run never sees a
// spurious redelivery. Clean up with t.Cleanup.
type OpenQueue func(t *testing.T, visibility time.Duration) recall.Queue

// qLongVisibility is what subtests that must not see redeliveries ask for.
const qLongVisibility = time.Minute

// Queue runs the shared Queue suite: the contract in recall.Queue, pinned
// down so memq and redisq cannot drift. Every queue must also implement
// recall.DeadLetters (operators list and redrive with it); the subtests
// that need it fail when it is missing, rather than pass without testing.
func Queue(t *testing.T, open OpenQueue) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, OpenQueue)
	}{
		{"RoundTrip", queueRoundTrip},
		{"InvalidPriority", queueInvalidPriority},
		{"PriorityOrder", queuePriorityOrder},
		{"LowNotStarved", queueLowNotStarved},
		{"IdempotentEnqueue", queueIdempotentEnqueue},
		{"ReceiveWaits", queueReceiveWaits},
		{"ReceiveWakesOnEnqueue", queueReceiveWakes},
		{"ContextCancelUnblocksReceive", queueCancelReceive},
		{"RetryDelay", queueRetryDelay},
		{"RetryWithoutReceipt", queueRetryWithoutReceipt},
		{"StaleReceipt", queueStaleReceipt},
		{"StaleAckAfterRetry", queueStaleAckAfterRetry},
		{"VisibilityRedelivery", queueVisibility},
		{"DeadLetter", queueDeadLetter},
		{"RedriveByID", queueRedriveByID},
		{"AckTwice", queueAckTwice},
		{"Stats", queueStats},
		{"Concurrent", queueConcurrent},
		{"FairShare", queueFairShare},
		{"Ping", queuePing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var qJobSeq struct {
	sync.Mutex
	n int
}

// newJob returns a job with every field set and a key no other test uses.
func qNewJob(p recall.Priority) recall.Job {
	qJobSeq.Lock()
	qJobSeq.n++
	n := qJobSeq.n
	qJobSeq.Unlock()
	return recall.Job{
		ConversationID: recall.NewID(time.Now()),
		Owner:          fmt.Sprintf("owner-%d", n),
		Run:            1 + n%3,
		Priority:       p,
		Attempt:        1 + n%2,
		EnqueuedAt:     time.Now().UTC().Add(-time.Duration(n) * time.Millisecond),
	}
}

func qCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func qEnqueue(t *testing.T, q recall.Queue, jobs ...recall.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := q.Enqueue(qCtx(t), j); err != nil {
			t.Fatalf("Enqueue(%s): %v", j.Key(), err)
		}
	}
}

func qReceive(t *testing.T, q recall.Queue, n int, wait time.Duration) []recall.Job {
	t.Helper()
	jobs, err := q.Receive(qCtx(t), n, wait)
	if err != nil {
		t.Fatalf("Receive(%d, %s): %v", n, wait, err)
	}
	if len(jobs) > n {
		t.Fatalf("Receive(%d) returned %d jobs", n, len(jobs))
	}
	return jobs
}

// receiveOne waits up to wait for exactly one job.
func qReceiveOne(t *testing.T, q recall.Queue, wait time.Duration) recall.Job {
	t.Helper()
	jobs := qReceive(t, q, 1, wait)
	if len(jobs) != 1 {
		t.Fatalf("Receive(1, %s) = %d jobs, want 1", wait, len(jobs))
	}
	return jobs[0]
}

// expectNone checks nothing is delivered within wait.
func qExpectNone(t *testing.T, q recall.Queue, wait time.Duration) {
	t.Helper()
	if jobs := qReceive(t, q, 10, wait); len(jobs) != 0 {
		t.Fatalf("Receive delivered %d jobs (first %s), want none", len(jobs), jobs[0].Key())
	}
}

func qAck(t *testing.T, q recall.Queue, jobs ...recall.Job) {
	t.Helper()
	if err := q.Ack(qCtx(t), jobs...); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func qStats(t *testing.T, q recall.Queue) recall.QueueStats {
	t.Helper()
	st, err := q.Stats(qCtx(t))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// sameJob compares every field but Receipt; EnqueuedAt compares as an
// instant at millisecond precision, since backends may encode it.
func qSameJob(t *testing.T, got, want recall.Job) {
	t.Helper()
	g, w := got, want
	g.Receipt, w.Receipt = "", ""
	if !g.EnqueuedAt.Truncate(time.Millisecond).Equal(w.EnqueuedAt.Truncate(time.Millisecond)) {
		t.Errorf("EnqueuedAt = %v, want %v", g.EnqueuedAt, w.EnqueuedAt)
	}
	g.EnqueuedAt, w.EnqueuedAt = time.Time{}, time.Time{}
	if g != w {
		t.Errorf("job = %+v, want %+v", g, w)
	}
}

func queueRoundTrip(t *testing.T, open OpenQueue) {
	for _, p := range recall.Priorities {
		t.Run(string(p), func(t *testing.T) {
			q := open(t, qLongVisibility)
			want := qNewJob(p)
			qEnqueue(t, q, want)
			got := qReceiveOne(t, q, 5*time.Second)
			if got.Receipt == "" {
				t.Error("received job has no Receipt")
			}
			qSameJob(t, got, want)
			if st := qStats(t, q); st.InFlight != 1 || st.Depth[p] != 0 {
				t.Errorf("after receive: in flight %d, depth %d; want 1, 0", st.InFlight, st.Depth[p])
			}
			qAck(t, q, got)
			if st := qStats(t, q); st.InFlight != 0 || st.Depth[p] != 0 {
				t.Errorf("after ack: in flight %d, depth %d; want 0, 0", st.InFlight, st.Depth[p])
			}
			qExpectNone(t, q, 100*time.Millisecond)
		})
	}
}

func queueInvalidPriority(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	j := qNewJob("urgent")
	if err := q.Enqueue(qCtx(t), j); recall.ErrorCode(err) != recall.EINVALID {
		t.Fatalf("Enqueue with priority %q: %v, want %s", j.Priority, err, recall.EINVALID)
	}
}

func queuePriorityOrder(t *testing.T, open OpenQueue) {
	t.Run("batch", func(t *testing.T) {
		q := open(t, qLongVisibility)
		low, def, high := qNewJob(recall.PriorityLow), qNewJob(recall.PriorityDefault), qNewJob(recall.PriorityHigh)
		qEnqueue(t, q, low, def, high)
		var got []recall.Job
		for len(got) < 3 {
			jobs := qReceive(t, q, 3-len(got), 5*time.Second)
			if len(jobs) == 0 {
				t.Fatalf("received %d of 3 jobs", len(got))
			}
			got = append(got, jobs...)
		}
		for i, want := range []recall.Job{high, def, low} {
			if got[i].Key() != want.Key() {
				t.Errorf("job %d has priority %s, want %s", i, got[i].Priority, want.Priority)
			}
		}
	})
	t.Run("one at a time", func(t *testing.T) {
		q := open(t, qLongVisibility)
		low, def, high := qNewJob(recall.PriorityLow), qNewJob(recall.PriorityDefault), qNewJob(recall.PriorityHigh)
		qEnqueue(t, q, low, def, high)
		for i, want := range []recall.Job{high, def, low} {
			got := qReceiveOne(t, q, 5*time.Second)
			if got.Key() != want.Key() {
				t.Errorf("job %d has priority %s, want %s", i, got.Priority, want.Priority)
			}
			qAck(t, q, got)
		}
	})
}

// queueLowNotStarved keeps the high lane full and checks low work still
// gets through, while high still gets most deliveries.
func queueLowNotStarved(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	for range 20 {
		qEnqueue(t, q, qNewJob(recall.PriorityHigh))
	}
	lows := []recall.Job{qNewJob(recall.PriorityLow), qNewJob(recall.PriorityLow)}
	qEnqueue(t, q, lows...)
	counts := map[recall.Priority]int{}
	for i := range 20 {
		got := qReceiveOne(t, q, 5*time.Second)
		if i == 0 && got.Priority != recall.PriorityHigh {
			t.Errorf("first delivery has priority %s, want high", got.Priority)
		}
		counts[got.Priority]++
		qAck(t, q, got)
		qEnqueue(t, q, qNewJob(recall.PriorityHigh)) // keep the load steady
	}
	if counts[recall.PriorityLow] == 0 {
		t.Errorf("low never delivered in 20 receives under high load: %v", counts)
	}
	if counts[recall.PriorityHigh] < 10 {
		t.Errorf("high got %d of 20 deliveries, want most: %v", counts[recall.PriorityHigh], counts)
	}
}

func queueIdempotentEnqueue(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	j := qNewJob(recall.PriorityDefault)
	qEnqueue(t, q, j, j)
	later := j
	later.Attempt++ // a sweeper's copy of the same key is still a duplicate
	qEnqueue(t, q, later)
	if st := qStats(t, q); st.Depth[recall.PriorityDefault] != 1 {
		t.Errorf("depth after three enqueues of one key = %d, want 1", st.Depth[recall.PriorityDefault])
	}
	got := qReceive(t, q, 10, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("received %d jobs for one key, want 1", len(got))
	}
	qEnqueue(t, q, j) // in flight: still a duplicate
	qExpectNone(t, q, 200*time.Millisecond)

	qAck(t, q, got[0])
	qEnqueue(t, q, j) // acked: a new job
	again := qReceiveOne(t, q, 5*time.Second)
	qSameJob(t, again, j)
	qAck(t, q, again)

	// A job waiting out a retry delay is outstanding too.
	qEnqueue(t, q, j)
	d := qReceiveOne(t, q, 5*time.Second)
	if err := q.Retry(qCtx(t), d, 300*time.Millisecond); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	qEnqueue(t, q, j)
	qExpectNone(t, q, 100*time.Millisecond)
	r := qReceiveOne(t, q, 5*time.Second)
	qAck(t, q, r)
	qExpectNone(t, q, 400*time.Millisecond)
}

func queueReceiveWaits(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	const wait = 400 * time.Millisecond
	start := time.Now()
	jobs, err := q.Receive(qCtx(t), 5, wait)
	took := time.Since(start)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("Receive on an empty queue = %d jobs, %v; want none, nil", len(jobs), err)
	}
	if took < wait-50*time.Millisecond {
		t.Errorf("Receive returned after %s, want about %s", took, wait)
	}
	if took > wait+3*time.Second {
		t.Errorf("Receive returned after %s, want about %s", took, wait)
	}

	// A zero wait answers at once.
	start = time.Now()
	if jobs := qReceive(t, q, 1, 0); len(jobs) != 0 {
		t.Fatalf("Receive with zero wait on an empty queue = %d jobs", len(jobs))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Receive with zero wait took %s", took)
	}
}

func queueReceiveWakes(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	j := qNewJob(recall.PriorityLow)
	type result struct {
		jobs []recall.Job
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		jobs, err := q.Receive(qCtx(t), 1, 20*time.Second)
		done <- result{jobs, err, time.Now()}
	}()
	time.Sleep(200 * time.Millisecond)
	enqueued := time.Now()
	qEnqueue(t, q, j)
	select {
	case r := <-done:
		if r.err != nil || len(r.jobs) != 1 {
			t.Fatalf("blocked Receive = %d jobs, %v; want the enqueued job", len(r.jobs), r.err)
		}
		qSameJob(t, r.jobs[0], j)
		if lag := r.at.Sub(enqueued); lag > 2*time.Second {
			t.Errorf("blocked Receive took %s to see a new job", lag)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Receive did not wake up for a new job")
	}
}

func queueCancelReceive(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		jobs, err := q.Receive(ctx, 1, 30*time.Second)
		if len(jobs) != 0 {
			err = fmt.Errorf("got %d jobs from an empty queue", len(jobs))
		} else if err == nil {
			err = errors.New("nil error")
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Receive returned %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("cancelling ctx did not unblock Receive")
	}
}

func queueRetryDelay(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	j := qNewJob(recall.PriorityHigh)
	qEnqueue(t, q, j)
	got := qReceiveOne(t, q, 5*time.Second)
	next := got
	next.Attempt = 7
	const delay = 800 * time.Millisecond
	retried := time.Now()
	if err := q.Retry(qCtx(t), next, delay); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if st := qStats(t, q); st.Scheduled != 1 || st.InFlight != 0 {
		t.Errorf("after Retry: scheduled %d, in flight %d; want 1, 0", st.Scheduled, st.InFlight)
	}
	qExpectNone(t, q, 300*time.Millisecond)
	again := qReceiveOne(t, q, 10*time.Second)
	if took := time.Since(retried); took < delay-20*time.Millisecond {
		t.Errorf("retry delivered after %s, before its %s delay", took, delay)
	}
	want := j
	want.Attempt = 7
	qSameJob(t, again, want)
	qAck(t, q, again)
	if st := qStats(t, q); st.Scheduled != 0 || st.InFlight != 0 {
		t.Errorf("after ack: scheduled %d, in flight %d; want 0, 0", st.Scheduled, st.InFlight)
	}

	// A zero delay makes the job deliverable at once.
	qEnqueue(t, q, j)
	got = qReceiveOne(t, q, 5*time.Second)
	if err := q.Retry(qCtx(t), got, 0); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	qAck(t, q, qReceiveOne(t, q, 5*time.Second))
}

// queueRetryWithoutReceipt covers jobs built outside the queue (a direct
// invocation): Retry schedules them unless their key is outstanding.
func queueRetryWithoutReceipt(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	j := qNewJob(recall.PriorityDefault)
	if err := q.Retry(qCtx(t), j, 100*time.Millisecond); err != nil {
		t.Fatalf("Retry without receipt: %v", err)
	}
	got := qReceiveOne(t, q, 5*time.Second)
	qSameJob(t, got, j)

	// Outstanding (in flight): Retry without receipt is a no-op.
	if err := q.Retry(qCtx(t), j, 0); err != nil {
		t.Fatalf("Retry without receipt: %v", err)
	}
	qExpectNone(t, q, 300*time.Millisecond)
	qAck(t, q, got)
	qExpectNone(t, q, 100*time.Millisecond)
}

// queueStaleReceipt checks that a delivery already settled cannot be settled
// again: a late Retry or DeadLetter for it changes nothing.
func queueStaleReceipt(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	j := qNewJob(recall.PriorityHigh)
	qEnqueue(t, q, j)
	got := qReceiveOne(t, q, 5*time.Second)
	qAck(t, q, got)
	if err := q.Retry(qCtx(t), got, 0); err != nil {
		t.Fatalf("Retry with a stale receipt: %v", err)
	}
	if err := q.DeadLetter(qCtx(t), got, "late"); err != nil {
		t.Fatalf("DeadLetter with a stale receipt: %v", err)
	}
	qExpectNone(t, q, 300*time.Millisecond)
	if st := qStats(t, q); st.Scheduled != 0 || st.Dead != 0 || st.InFlight != 0 {
		t.Errorf("stale settles changed the queue: %+v", st)
	}
}

// queueStaleAckAfterRetry: a worker whose ack was late acks a delivery that
// was retried since (a new receipt). The late ack must not release the
// job's key, or the job could be enqueued a second time while its retry is
// outstanding: enqueueing it again stays a no-op, and exactly one delivery
// follows.
func queueStaleAckAfterRetry(t *testing.T, open OpenQueue) {
	for _, delay := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run("retry delay "+delay.String(), func(t *testing.T) {
			q := open(t, qLongVisibility)
			j := qNewJob(recall.PriorityHigh)
			qEnqueue(t, q, j)
			old := qReceiveOne(t, q, 5*time.Second)
			retried := old
			retried.Attempt++
			if err := q.Retry(qCtx(t), retried, delay); err != nil {
				t.Fatalf("Retry: %v", err)
			}
			qAck(t, q, old)   // the old receipt: stale
			qEnqueue(t, q, j) // the retry is outstanding: a duplicate
			got := qReceiveOne(t, q, 5*time.Second)
			if got.Receipt == old.Receipt || got.Attempt != retried.Attempt {
				t.Errorf("delivered %s attempt %d (receipt %q), want the retry's attempt %d", got.Key(), got.Attempt, got.Receipt, retried.Attempt)
			}
			qExpectNone(t, q, delay+500*time.Millisecond)
			qAck(t, q, got)
			if st := qStats(t, q); st.InFlight != 0 || st.Scheduled != 0 || st.Depth[recall.PriorityHigh] != 0 {
				t.Errorf("after the one delivery was acked: %+v", st)
			}
		})
	}
}

func queueVisibility(t *testing.T, open OpenQueue) {
	const visibility = time.Second
	q := open(t, visibility)
	j := qNewJob(recall.PriorityDefault)
	qEnqueue(t, q, j)
	first := qReceiveOne(t, q, 5*time.Second)
	received := time.Now()
	qExpectNone(t, q, 300*time.Millisecond) // still hidden
	again := qReceiveOne(t, q, 10*time.Second)
	if took := time.Since(received); took < visibility-20*time.Millisecond {
		t.Errorf("redelivered after %s, before the %s visibility timeout", took, visibility)
	}
	qSameJob(t, again, j)
	if again.Receipt == "" {
		t.Error("redelivered job has no Receipt")
	}
	qAck(t, q, again)
	qAck(t, q, first) // the first delivery's late ack is harmless
	qExpectNone(t, q, visibility+500*time.Millisecond)
}

func qDeadLetters(t *testing.T, q recall.Queue) recall.DeadLetters {
	t.Helper()
	dl, ok := q.(recall.DeadLetters)
	if !ok {
		t.Fatalf("%T does not implement recall.DeadLetters", q)
	}
	return dl
}

func queueDeadLetter(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	dl := qDeadLetters(t, q)
	j := qNewJob(recall.PriorityLow)
	j.Attempt = 3
	qEnqueue(t, q, j)
	got := qReceiveOne(t, q, 5*time.Second)
	before := time.Now()
	if err := q.DeadLetter(qCtx(t), got, "analysis failed: boom"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	if st := qStats(t, q); st.Dead != 1 || st.InFlight != 0 {
		t.Errorf("after DeadLetter: dead %d, in flight %d; want 1, 0", st.Dead, st.InFlight)
	}
	qExpectNone(t, q, 200*time.Millisecond)

	// An empty receipt records the dead letter too (a direct invocation).
	other := qNewJob(recall.PriorityHigh)
	if err := q.DeadLetter(qCtx(t), other, "analysis failed: bad input"); err != nil {
		t.Fatalf("DeadLetter without receipt: %v", err)
	}

	list, err := dl.DeadLetters(qCtx(t), 10)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("DeadLetters = %d, want 2", len(list))
	}
	if list[0].ID == "" || list[0].ID == list[1].ID {
		t.Errorf("dead letter ids %q, %q: want distinct and non-empty", list[0].ID, list[1].ID)
	}
	if list[0].Reason != "analysis failed: boom" || list[1].Reason != "analysis failed: bad input" {
		t.Errorf("reasons = %q, %q (want oldest first)", list[0].Reason, list[1].Reason)
	}
	if list[0].At.Before(before.Add(-time.Second)) || list[0].At.After(time.Now().Add(time.Second)) {
		t.Errorf("dead letter At = %v, want about %v", list[0].At, before)
	}
	qSameJob(t, list[0].Job, j)
	qSameJob(t, list[1].Job, other)
	if limited, err := dl.DeadLetters(qCtx(t), 1); err != nil || len(limited) != 1 || limited[0].ID != list[0].ID {
		t.Errorf("DeadLetters(limit 1) = %v, %v; want the oldest", limited, err)
	}

	n, err := dl.Redrive(qCtx(t), nil)
	if err != nil || n != 2 {
		t.Fatalf("Redrive(all) = %d, %v; want 2, nil", n, err)
	}
	if st := qStats(t, q); st.Dead != 0 {
		t.Errorf("dead after redrive = %d, want 0", st.Dead)
	}
	var back []recall.Job
	for len(back) < 2 {
		jobs := qReceive(t, q, 2, 5*time.Second)
		if len(jobs) == 0 {
			t.Fatalf("redriven jobs: got %d of 2", len(back))
		}
		back = append(back, jobs...)
	}
	for _, b := range back {
		if b.Attempt != 1 {
			t.Errorf("redriven job %s has attempt %d, want a fresh 1", b.Key(), b.Attempt)
		}
		if b.Key() != j.Key() && b.Key() != other.Key() {
			t.Errorf("redrive delivered unknown job %s", b.Key())
		}
	}
	qAck(t, q, back...)
	if n, err := dl.Redrive(qCtx(t), nil); err != nil || n != 0 {
		t.Errorf("Redrive of an empty dead-letter list = %d, %v; want 0, nil", n, err)
	}
}

func queueRedriveByID(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	dl := qDeadLetters(t, q)
	a, b := qNewJob(recall.PriorityDefault), qNewJob(recall.PriorityDefault)
	for _, j := range []recall.Job{a, b} {
		if err := q.DeadLetter(qCtx(t), j, "failed"); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	list, err := dl.DeadLetters(qCtx(t), 0)
	if err != nil || len(list) != 2 {
		t.Fatalf("DeadLetters = %d, %v; want 2", len(list), err)
	}
	n, err := dl.Redrive(qCtx(t), []string{list[1].ID})
	if err != nil || n != 1 {
		t.Fatalf("Redrive(one id) = %d, %v; want 1, nil", n, err)
	}
	got := qReceiveOne(t, q, 5*time.Second)
	if got.Key() != b.Key() {
		t.Errorf("redrive by id delivered %s, want %s", got.Key(), b.Key())
	}
	qExpectNone(t, q, 100*time.Millisecond)
	left, err := dl.DeadLetters(qCtx(t), 10)
	if err != nil || len(left) != 1 || left[0].ID != list[0].ID {
		t.Errorf("left after redrive = %v, %v; want only %s", left, err, list[0].ID)
	}
	if n, err := dl.Redrive(qCtx(t), []string{list[1].ID}); err != nil || n != 0 {
		t.Errorf("second redrive of one id = %d, %v; want 0, nil", n, err)
	}
}

func queueAckTwice(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	a, b := qNewJob(recall.PriorityHigh), qNewJob(recall.PriorityLow)
	qEnqueue(t, q, a, b)
	var got []recall.Job
	for len(got) < 2 {
		got = append(got, qReceive(t, q, 2, 5*time.Second)...)
	}
	qAck(t, q, got...) // several at once
	qAck(t, q, got...)
	qAck(t, q, got[0])
	qAck(t, q)                               // none
	qAck(t, q, qNewJob(recall.PriorityHigh)) // never delivered: no receipt
	if st := qStats(t, q); st.InFlight != 0 || st.Depth[recall.PriorityHigh]+st.Depth[recall.PriorityLow] != 0 {
		t.Errorf("after acks: %+v", st)
	}
	qExpectNone(t, q, 100*time.Millisecond)
}

func queueStats(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	st := qStats(t, q)
	for _, p := range recall.Priorities {
		if st.Depth[p] != 0 {
			t.Errorf("empty queue depth[%s] = %d", p, st.Depth[p])
		}
	}
	if st.InFlight != 0 || st.Scheduled != 0 || st.Dead != 0 || st.OldestAge != 0 {
		t.Errorf("empty queue stats = %+v", st)
	}

	// Four high, two default, three low, then: one high in flight, one
	// high scheduled for retry, one default dead.
	var jobs []recall.Job
	for _, n := range []struct {
		p recall.Priority
		n int
	}{{recall.PriorityHigh, 4}, {recall.PriorityDefault, 2}, {recall.PriorityLow, 3}} {
		for range n.n {
			jobs = append(jobs, qNewJob(n.p))
		}
	}
	qEnqueue(t, q, jobs...)
	time.Sleep(50 * time.Millisecond)
	h1 := qReceiveOne(t, q, 5*time.Second)
	h2 := qReceiveOne(t, q, 5*time.Second)
	if h1.Priority != recall.PriorityHigh || h2.Priority != recall.PriorityHigh {
		t.Fatalf("first deliveries have priorities %s, %s; want high", h1.Priority, h2.Priority)
	}
	if err := q.Retry(qCtx(t), h2, time.Hour); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	d := qNewJob(recall.PriorityDefault)
	if err := q.DeadLetter(qCtx(t), d, "failed"); err != nil {
		t.Fatalf("DeadLetter: %v", err)
	}
	st = qStats(t, q)
	want := map[recall.Priority]int64{recall.PriorityHigh: 2, recall.PriorityDefault: 2, recall.PriorityLow: 3}
	for _, p := range recall.Priorities {
		if st.Depth[p] != want[p] {
			t.Errorf("depth[%s] = %d, want %d", p, st.Depth[p], want[p])
		}
	}
	if st.InFlight != 1 || st.Scheduled != 1 || st.Dead != 1 {
		t.Errorf("in flight %d, scheduled %d, dead %d; want 1, 1, 1", st.InFlight, st.Scheduled, st.Dead)
	}
	if st.OldestAge < 40*time.Millisecond || st.OldestAge > time.Minute {
		t.Errorf("oldest age = %s, want at least the 50ms slept", st.OldestAge)
	}
}

// queueConcurrent runs producers and consumers at once and checks every job
// is delivered exactly once when every delivery is acked.
func queueConcurrent(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	const producers, perProducer, consumers = 4, 75, 4
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	batches, want := qConcurrentJobs(producers, perProducer)
	r := &qConcurrentRun{
		total: len(want),
		seen:  map[string]int{},
		errc:  make(chan error, producers+consumers),
		done:  make(chan struct{}),
		stop:  make(chan struct{}),
	}
	for _, jobs := range batches {
		r.wg.Go(func() { r.produce(ctx, q, jobs) })
	}
	for range consumers {
		r.wg.Go(func() { r.consume(ctx, q) })
	}
	r.waitAllSeen(t, ctx, cancel)
	// Let consumers look once more for duplicates, then stop.
	time.Sleep(300 * time.Millisecond)
	r.finish(t)
	r.checkExactlyOnce(t, want)
	if st := qStats(t, q); st.InFlight != 0 {
		t.Errorf("in flight after all acked = %d", st.InFlight)
	}
}

// qConcurrentJobs makes each producer's jobs, in all three priorities, and
// the set of keys the consumers must see between them.
func qConcurrentJobs(producers, perProducer int) ([][]recall.Job, map[string]bool) {
	want := map[string]bool{}
	batches := make([][]recall.Job, producers)
	for p := range batches {
		for i := range perProducer {
			j := qNewJob(recall.Priorities[i%3])
			batches[p] = append(batches[p], j)
			want[j.Key()] = true
		}
	}
	return batches, want
}

// qConcurrentRun is the state queueConcurrent's producers and consumers
// share: how often each job was delivered, and the first error of each
// goroutine, which ends the test from the test's own goroutine.
type qConcurrentRun struct {
	total int
	mu    sync.Mutex
	seen  map[string]int // job key → deliveries acked
	wg    sync.WaitGroup
	errc  chan error    // room for one error per goroutine
	done  chan struct{} // closed when every job was seen once
	stop  chan struct{} // closed to stop the consumers
}

// produce enqueues jobs one by one, as concurrent clients would.
func (r *qConcurrentRun) produce(ctx context.Context, q recall.Queue, jobs []recall.Job) {
	for _, j := range jobs {
		if err := q.Enqueue(ctx, j); err != nil {
			r.errc <- fmt.Errorf("Enqueue: %w", err)
			return
		}
	}
}

// consume receives, acks and records batches until stopped. It records
// after the ack, so a job counts as delivered only when the queue took the
// ack, and keeps going after every job was seen so a duplicate has a chance
// to show up.
func (r *qConcurrentRun) consume(ctx context.Context, q recall.Queue) {
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		jobs, err := q.Receive(ctx, 8, 200*time.Millisecond)
		if err != nil {
			r.errc <- fmt.Errorf("Receive: %w", err)
			return
		}
		if len(jobs) == 0 {
			continue
		}
		if err := q.Ack(ctx, jobs...); err != nil {
			r.errc <- fmt.Errorf("Ack: %w", err)
			return
		}
		r.mu.Lock()
		for _, j := range jobs {
			r.seen[j.Key()]++
		}
		if len(r.seen) == r.total && !qClosed(r.done) {
			close(r.done)
		}
		r.mu.Unlock()
	}
}

// waitAllSeen returns once every job was delivered at least once, and fails
// the test, after stopping every goroutine, on the first error or when ctx
// runs out first.
func (r *qConcurrentRun) waitAllSeen(t *testing.T, ctx context.Context, cancel context.CancelFunc) {
	t.Helper()
	select {
	case <-r.done:
	case err := <-r.errc:
		close(r.stop)
		cancel()
		r.wg.Wait()
		t.Fatal(err)
	case <-ctx.Done():
		close(r.stop)
		r.wg.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("only %d of %d jobs delivered", len(r.seen), r.total)
	}
}

// finish stops the consumers, waits for every goroutine and fails on an
// error that came after the last job was seen.
func (r *qConcurrentRun) finish(t *testing.T) {
	t.Helper()
	close(r.stop)
	r.wg.Wait()
	select {
	case err := <-r.errc:
		t.Fatal(err)
	default:
	}
}

// checkExactlyOnce fails for a job delivered other than once, and for a
// delivery of a job nobody enqueued (one leaked from another subtest's
// queue, or a garbled key).
func (r *qConcurrentRun) checkExactlyOnce(t *testing.T, want map[string]bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range want {
		if r.seen[k] != 1 {
			t.Errorf("job %s delivered %d times, want once", k, r.seen[k])
		}
	}
	for k := range r.seen {
		if !want[k] {
			t.Errorf("delivered unknown job %s", k)
		}
	}
}

func qClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func queuePing(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	if err := q.Ping(qCtx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// queueFairShare: one owner's backlog must not starve another owner's jobs
// enqueued after it. Owner A enqueues 200 jobs and owner B 10 right after,
// all of one priority; received as a worker takes them (batches of 8, each
// acked), B's 10 must all arrive before A's 100th. With the default fair
// share (recall.DefaultFairShare, 16) they arrive right after A's first 16.
// Once A's jobs are gone for good (half acked, half dead-lettered) A owes
// nothing: A's next job is served before one B enqueues after it, so a
// count that leaked on either path shows.
//
// The bound holds for any fair share under 90; the suite runs each backend
// with its default.
func queueFairShare(t *testing.T, open OpenQueue) {
	q := open(t, qLongVisibility)
	qJobSeq.Lock()
	qJobSeq.n++
	a, b := fmt.Sprintf("fair-a-%d", qJobSeq.n), fmt.Sprintf("fair-b-%d", qJobSeq.n)
	qJobSeq.Unlock()
	ownedBy := func(owner string) recall.Job {
		j := qNewJob(recall.PriorityDefault)
		j.Owner = owner
		return j
	}
	const backlog = 200
	for range backlog {
		qEnqueue(t, q, ownedBy(a))
	}
	for range 10 {
		qEnqueue(t, q, ownedBy(b))
	}
	var fromA []recall.Job
	aBeforeB, fromB := 0, 0
	for len(fromA) < backlog || fromB < 10 {
		jobs := qReceive(t, q, 8, 5*time.Second)
		if len(jobs) == 0 {
			t.Fatalf("queue ran dry after %d of A's and %d of B's jobs", len(fromA), fromB)
		}
		for _, j := range jobs {
			if j.Owner == b {
				fromB++
				aBeforeB = len(fromA)
			} else {
				fromA = append(fromA, j)
			}
		}
		if fromB < 10 {
			qAck(t, q, jobs...)
		} else {
			// From here on A's deliveries are settled below, half of them
			// as dead letters.
			for _, j := range jobs {
				if j.Owner == b {
					qAck(t, q, j)
				}
			}
		}
	}
	t.Logf("owner B's 10 jobs were all received after %d of owner A's %d", aBeforeB, backlog)
	if aBeforeB >= 100 {
		t.Errorf("owner B's 10 jobs came after %d of owner A's backlog, want them before A's 100th", aBeforeB)
	}
	// A third owner's job stays in flight meanwhile, so the queue is never
	// empty (a queue may forget every count when nothing is outstanding).
	bystander := ownedBy(a + "-c")
	qEnqueue(t, q, bystander)
	held := qReceiveOne(t, q, 5*time.Second)
	for i, j := range fromA {
		if i%2 == 0 {
			qAck(t, q, j) // harmless for those acked above already
		} else if err := q.DeadLetter(qCtx(t), j, "failed"); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	again, after := ownedBy(a), ownedBy(b)
	qEnqueue(t, q, again, after)
	if got := qReceiveOne(t, q, 5*time.Second); got.Key() != again.Key() {
		t.Errorf("with nothing of A's outstanding, B's job came before A's (A still counted as busy)")
	}
	qAck(t, q, held)
}

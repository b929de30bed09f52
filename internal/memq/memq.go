// Package memq is Recall's in-process queue: the default for a local run and
// the fake every test of the worker uses. It keeps the whole Queue contract
// (priorities, idempotent enqueue, visibility timeout, delayed retries, dead
// letters) in memory behind one mutex, so jobs do not survive the process;
// the sweeper re-enqueues whatever a restart lost.
//
// Priorities are served by weighted credit round robin, the same policy as
// redisq: every round grants high, default and low recall.Priority.Weight
// picks (6, 3 and 1), taken in that order. A priority with no work gives
// its credit up to the next, and a new round starts when no priority
// holding credit has work. So with all three busy, high gets 60% of
// deliveries, default 30% and low 10%, and low is never starved; when only
// one priority has work it gets everything.
//
// Fairness is redisq's rule with exact counts: each owner's outstanding
// jobs are counted, a job whose owner already has FairShare outstanding
// waits in its priority's overflow lane, and a priority serves its overflow
// lane only when its normal lane is empty.
package memq

import (
	"container/heap"
	"container/list"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"recall/internal/recall"
)

// DefaultVisibility is how long a delivered job stays hidden when Options
// does not say: longer than any analysis should take.
const DefaultVisibility = 5 * time.Minute

// Options tunes a Queue.
type Options struct {
	// Visibility is how long a received job stays in flight before it is
	// delivered again unless acked, retried or dead-lettered. It must be
	// longer than the analyzer's timeout (DefaultVisibility when zero).
	Visibility time.Duration
	// FairShare is how many outstanding jobs an owner may have in the
	// normal lanes; the rest wait in the overflow lanes
	// (recall.DefaultFairShare when zero).
	FairShare int
}

// ErrClosed is returned by every method of a closed Queue.
var ErrClosed = recall.Errorf(recall.EUNAVAILABLE, "memq: queue closed")

type state int

const (
	waiting state = iota
	inFlight
	scheduled
)

// entry is one outstanding job. Its id, the delivery receipt, stays the same
// across visibility redeliveries (like a stream entry id) and changes when a
// retry puts the job back.
type entry struct {
	job   recall.Job
	id    uint64
	state state
	// lane is the priority's lane (0, 1, 2) while the owner had at most
	// the fair share outstanding, else its overflow lane (3, 4, 5).
	lane int
	// since is when the entry started waiting (for OldestAge).
	since time.Time
	// due is when an in-flight entry becomes visible again or a scheduled
	// one becomes deliverable.
	due  time.Time
	elem *list.Element // position in its lane while waiting
	hidx int           // index in the timer heap while in flight or scheduled
}

// Queue is an in-memory recall.Queue. The zero value is not usable; call New.
type Queue struct {
	visibility time.Duration
	share      int

	mu      sync.Mutex
	lanes   [6]*list.List // of *entry, FIFO: normal lanes, then overflow
	credits [3]int        // per priority
	byKey   map[string]*entry
	owners  map[string]int // outstanding jobs per owner
	timers  timerHeap      // in-flight and scheduled entries by due time
	dead    []recall.DeadLetter
	seq     uint64
	deadSeq uint64
	wake    chan struct{} // closed and replaced when work may be available
	closed  bool
}

var (
	_ recall.Queue       = (*Queue)(nil)
	_ recall.DeadLetters = (*Queue)(nil)
)

// New returns an empty queue.
func New(opts Options) *Queue {
	if opts.Visibility <= 0 {
		opts.Visibility = DefaultVisibility
	}
	if opts.FairShare <= 0 {
		opts.FairShare = recall.DefaultFairShare
	}
	q := &Queue{
		visibility: opts.Visibility,
		share:      opts.FairShare,
		byKey:      map[string]*entry{},
		owners:     map[string]int{},
		wake:       make(chan struct{}),
	}
	for i := range q.lanes {
		q.lanes[i] = list.New()
	}
	q.newRound()
	return q
}

// Enqueue adds job unless a job with the same key is outstanding.
func (q *Queue) Enqueue(ctx context.Context, job recall.Job) error {
	lane := job.Priority.Lane()
	if lane < 0 {
		return recall.Errorf(recall.EINVALID, "memq: invalid priority %q", job.Priority)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if _, ok := q.byKey[job.Key()]; ok {
		return nil
	}
	q.owners[job.Owner]++
	q.pushWaiting(q.add(job, lane), time.Now(), false)
	return nil
}

// add makes job outstanding as a new entry (a new receipt), in its
// priority's normal lane or, beyond the owner's fair share, its overflow
// lane. The caller has counted it for its owner.
func (q *Queue) add(job recall.Job, priority int) *entry {
	if q.owners[job.Owner] > q.share {
		priority += 3
	}
	job.Receipt = ""
	q.seq++
	e := &entry{job: job, id: q.seq, lane: priority}
	q.byKey[job.Key()] = e
	return e
}

// Receive returns up to max jobs, waiting up to wait for the first.
func (q *Queue) Receive(ctx context.Context, n int, wait time.Duration) ([]recall.Job, error) {
	if n <= 0 {
		return nil, nil
	}
	deadline := time.Now().Add(wait)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := time.Now()
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		q.expire(now)
		jobs := q.take(n, now)
		next := deadline
		if len(q.timers) > 0 && q.timers[0].due.Before(next) {
			next = q.timers[0].due
		}
		wake := q.wake
		q.mu.Unlock()
		if len(jobs) > 0 || !now.Before(deadline) {
			return jobs, nil
		}
		d := max(next.Sub(now), time.Millisecond)
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		case <-timer.C:
		}
	}
}

// Ack removes the jobs whose receipt is still the current delivery.
func (q *Queue) Ack(ctx context.Context, jobs ...recall.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	for _, job := range jobs {
		if e := q.current(job); e != nil {
			q.remove(e)
			q.release(e.job.Owner)
		}
	}
	return nil
}

// Retry ends job's delivery and schedules it (with the caller's Attempt)
// after delay. A stale receipt (the delivery was already acked, retried or
// dead-lettered) makes it a no-op, and so does an empty receipt while a job
// with the same key is outstanding.
func (q *Queue) Retry(ctx context.Context, job recall.Job, delay time.Duration) error {
	lane := job.Priority.Lane()
	if lane < 0 {
		return recall.Errorf(recall.EINVALID, "memq: invalid priority %q", job.Priority)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if job.Receipt != "" {
		e := q.current(job)
		if e == nil {
			return nil
		}
		q.remove(e) // still outstanding: its owner's count stays
	} else if _, ok := q.byKey[job.Key()]; ok {
		return nil
	} else {
		q.owners[job.Owner]++
	}
	e := q.add(job, lane)
	now := time.Now()
	if delay <= 0 {
		q.pushWaiting(e, now, false)
		return nil
	}
	e.state = scheduled
	e.due = now.Add(delay)
	heap.Push(&q.timers, e)
	return nil
}

// DeadLetter ends job's delivery and parks it with reason. A stale receipt
// makes it a no-op; an empty one only records the dead letter.
func (q *Queue) DeadLetter(ctx context.Context, job recall.Job, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if job.Receipt != "" {
		e := q.current(job)
		if e == nil {
			return nil
		}
		q.remove(e)
		q.release(e.job.Owner)
	}
	job.Receipt = ""
	q.deadSeq++
	q.dead = append(q.dead, recall.DeadLetter{ID: strconv.FormatUint(q.deadSeq, 10), Job: job, Reason: reason, At: time.Now().UTC()})
	return nil
}

// DeadLetters lists up to limit dead letters, oldest first.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]recall.DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	n := len(q.dead)
	if limit > 0 {
		n = min(n, limit)
	}
	return slices.Clone(q.dead[:n]), nil
}

// Redrive moves the named dead letters (all when ids is empty) back into the
// queue as first attempts. A dead letter whose job is outstanding again is
// dropped, since that job will run anyway; it still counts as redriven.
func (q *Queue) Redrive(ctx context.Context, ids []string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	now := time.Now()
	n := 0
	kept := q.dead[:0]
	for _, d := range q.dead {
		if len(ids) > 0 && !want[d.ID] {
			kept = append(kept, d)
			continue
		}
		lane := d.Job.Priority.Lane()
		if lane < 0 {
			kept = append(kept, d)
			continue
		}
		n++
		if _, ok := q.byKey[d.Job.Key()]; ok {
			continue
		}
		job := d.Job
		job.Attempt = 1
		job.EnqueuedAt = now.UTC()
		q.owners[job.Owner]++
		q.pushWaiting(q.add(job, lane), now, false)
	}
	clear(q.dead[len(kept):])
	q.dead = kept
	return n, nil
}

// Stats reports the queue's figures. memq knows no consumers by name.
func (q *Queue) Stats(ctx context.Context) (recall.QueueStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return recall.QueueStats{}, ErrClosed
	}
	now := time.Now()
	q.expire(now)
	st := recall.QueueStats{Depth: map[recall.Priority]int64{}, Dead: int64(len(q.dead))}
	for i, l := range q.lanes {
		st.Depth[recall.Priorities[i%3]] += int64(l.Len())
		// Redeliveries go to the front in no particular order, so look at
		// every waiting entry rather than trust the front.
		for el := l.Front(); el != nil; el = el.Next() {
			st.OldestAge = max(st.OldestAge, now.Sub(el.Value.(*entry).since))
		}
	}
	for _, e := range q.timers {
		if e.state == inFlight {
			st.InFlight++
		} else {
			st.Scheduled++
		}
	}
	return st, nil
}

// Ping reports whether the queue is open.
func (q *Queue) Ping(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	return nil
}

// Close stops the queue: blocked receivers wake and every method returns
// ErrClosed from then on. Jobs still held are dropped with the process, as
// always with memq. It is safe to call more than once.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.wake)
	}
	return nil
}

// current returns the outstanding entry job's receipt names, or nil when the
// receipt is empty, malformed or stale.
func (q *Queue) current(job recall.Job) *entry {
	if job.Receipt == "" {
		return nil
	}
	id, err := strconv.ParseUint(job.Receipt, 10, 64)
	if err != nil {
		return nil
	}
	e := q.byKey[job.Key()]
	if e == nil || e.id != id {
		return nil
	}
	return e
}

// remove forgets e wherever it is. Its owner's count is the caller's to
// change: a retried job stays outstanding.
func (q *Queue) remove(e *entry) {
	switch e.state {
	case waiting:
		q.lanes[e.lane].Remove(e.elem)
		e.elem = nil
	default:
		heap.Remove(&q.timers, e.hidx)
	}
	delete(q.byKey, e.job.Key())
}

// release counts one of owner's jobs gone for good.
func (q *Queue) release(owner string) {
	if q.owners[owner]--; q.owners[owner] <= 0 {
		delete(q.owners, owner)
	}
}

// pushWaiting makes e deliverable and wakes receivers; front is for
// redeliveries, which are older than anything behind them.
func (q *Queue) pushWaiting(e *entry, now time.Time, front bool) {
	e.state = waiting
	if !front {
		e.since = now
	}
	if front {
		e.elem = q.lanes[e.lane].PushFront(e)
	} else {
		e.elem = q.lanes[e.lane].PushBack(e)
	}
	close(q.wake)
	q.wake = make(chan struct{})
}

// expire moves due timers: scheduled retries join the back of their lane,
// in-flight jobs whose visibility ran out go to the front.
func (q *Queue) expire(now time.Time) {
	for len(q.timers) > 0 && !q.timers[0].due.After(now) {
		e := heap.Pop(&q.timers).(*entry)
		if e.state == inFlight {
			e.since = e.due
			q.pushWaiting(e, now, true)
		} else {
			q.pushWaiting(e, now, false)
		}
	}
}

// take delivers up to n waiting jobs by weighted credit round robin over
// the priorities, each from its normal lane before its overflow lane.
func (q *Queue) take(n int, now time.Time) []recall.Job {
	var jobs []recall.Job
	for len(jobs) < n {
		p := q.pick()
		if p < 0 {
			break
		}
		lane := p
		if q.lanes[p].Len() == 0 {
			lane = p + 3
		}
		e := q.lanes[lane].Remove(q.lanes[lane].Front()).(*entry)
		e.elem = nil
		e.state = inFlight
		e.due = now.Add(q.visibility)
		heap.Push(&q.timers, e)
		job := e.job
		job.Receipt = strconv.FormatUint(e.id, 10)
		jobs = append(jobs, job)
	}
	return jobs
}

// pick spends one credit and returns the priority to serve, or -1 when
// every lane is empty.
func (q *Queue) pick() int {
	for range 2 {
		for p := range q.credits {
			if q.credits[p] > 0 && q.waiting(p) > 0 {
				q.credits[p]--
				return p
			}
		}
		if q.waiting(0)+q.waiting(1)+q.waiting(2) == 0 {
			return -1
		}
		q.newRound()
	}
	return -1
}

// waiting is how many jobs of priority p wait, in both its lanes.
func (q *Queue) waiting(p int) int { return q.lanes[p].Len() + q.lanes[p+3].Len() }

// newRound grants every lane its priority's weight in credits.
func (q *Queue) newRound() {
	for i, p := range recall.Priorities {
		q.credits[i] = p.Weight()
	}
}

// timerHeap orders in-flight and scheduled entries by due time.
type timerHeap []*entry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}
func (h *timerHeap) Push(x any) {
	e := x.(*entry)
	e.hidx = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.hidx = -1
	return e
}

package fulltext

import (
	"context"
	"fmt"
	"sync"
	"time"

	"recall/internal/recall"
)

// Every change to the index goes through one writer goroutine, in the
// order it was accepted, so a create's entry can never land over the newer
// one a finished run wrote, nor a delete be undone by a write queued
// before it.
//
// Why a queue and not a write inside the request: a bleve batch costs a
// segment, a snapshot and later merges whatever it holds, and indexing a
// conversation costs several times the rest of a create. Queued, a create
// answers after the store write (Accept) and the writer takes everything
// waiting as one batch, so under load batches grow and their fixed cost is
// spread thin; idle, a batch holds one change and is written at once.
//
// Read-your-writes from the searcher's side: each accepted change gets a
// sequence number, and a Search first waits until every change accepted
// before it began is settled (see barrier). A create that answered 201 was
// accepted before any search its client can send after it.
//
// Failures: a batch that cannot be written is put back, whole and first
// in line, and retried with backoff until it is written or the index is
// closed; callers that wait (Index, Delete) get the error as well, so the
// worker's own retry (IndexRetries) runs as before. Nothing is dropped: a
// change still queued or failing when the process dies is found by CatchUp
// at the next start, because the watermark is written only in a batch
// that holds every change accepted before it (the ones put back lead it),
// so it never claims a change that was not written.

// Queue bounds: past either, Accept waits for room (backpressure) rather
// than grow without limit or drop anything.
const (
	maxQueued      = 4096
	maxQueuedBytes = 64 << 20
	// maxBatch is the most changes written in one batch; more waiting
	// are written in the next.
	maxBatch = 2000
	// retryBase and retryMax bound the wait between attempts at a batch
	// that failed.
	retryBase = 50 * time.Millisecond
	retryMax  = 5 * time.Second
)

// change is one accepted write: c indexed, or, when c is nil, the
// document of owner and id deleted.
type change struct {
	seq       uint64
	c         *recall.Conversation
	owner, id string
	size      int
	// done receives the outcome of the batch that took it; nil when
	// nobody waits (Accept).
	done chan error
}

// writer is the queue and its goroutine's state.
type writer struct {
	mu       sync.Mutex
	queue    []*change // accepted, not yet taken
	bytes    int       // content bytes queued
	retry    []*change // taken by a batch that failed; they lead the next
	accepted uint64    // sequence of the last change accepted
	settled  uint64    // every change up to it is written or put back to retry
	failing  error     // the last batch's error, nil once one is written
	closed   bool
	changed  chan struct{} // closed (and replaced) when settled or the queue moves
	wake     chan struct{} // capacity 1: the queue has work
	stopped  chan struct{} // closed when the goroutine has returned
}

func newWriter() *writer {
	return &writer{changed: make(chan struct{}), wake: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// broadcast wakes everyone waiting on w.changed. Hold w.mu.
func (w *writer) broadcast() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// submit accepts ch, waiting for room while the queue is full (until ctx
// ends). It returns ch's sequence number.
func (w *writer) submit(ctx context.Context, ch *change) (uint64, error) {
	w.mu.Lock()
	for !w.closed && len(w.queue) > 0 && (len(w.queue) >= maxQueued || w.bytes+ch.size > maxQueuedBytes) {
		wait := w.changed
		w.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, fmt.Errorf("fulltext: the index queue is full: %w", ctx.Err())
		}
		w.mu.Lock()
	}
	if w.closed {
		w.mu.Unlock()
		return 0, recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	w.accepted++
	ch.seq = w.accepted
	w.queue = append(w.queue, ch)
	w.bytes += ch.size
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return ch.seq, nil
}

// wait returns once every change up to seq is settled, or ctx ends, or
// the index is closing (whatever Close cannot write will not be written by
// this process, so waiting for it could last forever).
func (w *writer) wait(ctx context.Context, seq uint64) error {
	w.mu.Lock()
	for w.settled < seq && !w.closed {
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// take removes the next batch: the changes put back first, then the
// queue's oldest, up to maxBatch. ok is false when there is nothing to do.
func (w *writer) take() (batch []*change, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	batch = w.retry
	w.retry = nil
	n := min(len(w.queue), max(0, maxBatch-len(batch)))
	for _, ch := range w.queue[:n] {
		w.bytes -= ch.size
	}
	batch = append(batch, w.queue[:n]...)
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil // let the old array go
	}
	if n > 0 {
		w.broadcast() // room for Accepts waiting on a full queue
	}
	return batch, len(batch) > 0
}

// finish records a batch's outcome: written, or put back to lead the next.
func (w *writer) finish(batch []*change, err error) {
	w.mu.Lock()
	if err != nil {
		w.retry = batch
	}
	w.failing = err
	if last := batch[len(batch)-1].seq; last > w.settled {
		w.settled = last
	}
	w.broadcast()
	w.mu.Unlock()
	for _, ch := range batch {
		if ch.done != nil {
			ch.done <- err
			ch.done = nil // a change put back answers its waiter once
		}
	}
}

// writeLoop is the writer goroutine: it writes batches until the index is closed
// and the queue is empty, or, once closed, until a batch fails again.
func (x *Index) writeLoop() {
	w := x.writer
	defer close(w.stopped)
	delay := retryBase
	for {
		batch, ok := w.take()
		if !ok {
			w.mu.Lock()
			closed := w.closed
			w.mu.Unlock()
			if closed {
				return
			}
			<-w.wake
			continue
		}
		err := x.writeBatch(batch)
		w.finish(batch, err)
		if err == nil {
			delay = retryBase
			continue
		}
		x.log.Warn("search index write failed; retrying", "changes", len(batch), "retry_in", delay.String(), "error", err.Error())
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		if closed {
			x.log.Warn("search index closed with changes unwritten; the next start catches up with the store", "changes", len(batch))
			return
		}
		time.Sleep(delay) // closing does not skip it: the failure is likely still there
		delay = min(2*delay, retryMax)
	}
}

// writeBatch writes batch in one bleve batch, in order: a later change to
// a document replaces an earlier one in the same batch.
func (x *Index) writeBatch(batch []*change) error {
	return x.write(len(batch), func(b *bleveBatch, next *Watermark) {
		for _, ch := range batch {
			if ch.c == nil {
				b.Delete(docID(ch.owner, ch.id))
				continue
			}
			b.IndexAdvanced(x.document(ch.c)) // errors only for an empty ID; a docID never is
			*next = next.Max(markOf(ch.c))
		}
	})
}

// stop closes the queue and waits for the writer to write what it holds,
// up to timeout.
func (w *writer) stop(timeout time.Duration) error {
	w.mu.Lock()
	w.closed = true
	w.broadcast()
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-w.stopped:
	case <-time.After(timeout):
		return fmt.Errorf("the index queue was not written within %s", timeout)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.retry) + len(w.queue); n > 0 {
		return fmt.Errorf("%d change(s) not written (%v); the next start catches up with the store", n, w.failing)
	}
	return nil
}

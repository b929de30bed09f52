package recall

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Outcome is what became of one delivered job.
type Outcome string

// The outcomes a job can have.
const (
	OutcomeDone      Outcome = "done"      // analysed and stored
	OutcomeRetry     Outcome = "retry"     // failed, scheduled again with backoff
	OutcomeThrottled Outcome = "throttled" // the model asked us to slow down; retried without spending an attempt
	OutcomeFailed    Outcome = "failed"    // gave up; the conversation is failed and the job dead-lettered
	OutcomeSkipped   Outcome = "skipped"   // stale run, already finished, or gone: nothing to do
	OutcomeReleased  Outcome = "released"  // a store or queue fault; left for redelivery
)

// Handle processes one delivered job to the end: it marks the conversation
// processing, runs the analyzer, writes the result with a conditional write,
// and only then acks, retries or dead-letters the job. Whatever fails, the
// conversation stays recoverable: a fault in the store or queue leaves the
// job to be delivered again.
func (s *Service) Handle(ctx context.Context, job Job) Outcome {
	start := s.cfg.Now()
	outcome, attempt, a, reason := s.handle(ctx, job)
	took := s.cfg.Now().Sub(start)
	attrs := []any{"conversation_id", job.ConversationID, "owner", job.Owner, "run", job.Run,
		"attempt", attempt, "outcome", string(outcome), "duration_ms", took.Milliseconds()}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	if a != nil {
		attrs = append(attrs, "model", a.Model, "input_tokens", a.Usage.InputTokens,
			"output_tokens", a.Usage.OutputTokens, "cached", a.Cached)
	}
	s.log.InfoContext(ctx, "job", attrs...)
	if s.cfg.Observer != nil {
		s.cfg.Observer.JobFinished(outcome, attempt, took, a)
	}
	return outcome
}

func (s *Service) handle(ctx context.Context, job Job) (Outcome, int, *Analysis, string) {
	q := s.cfg.Queue
	c, err := s.cfg.Store.Transition(ctx, job.Ref(), Transition{Event: EventStart, At: s.cfg.Now().UTC()})
	switch code := ErrorCode(err); {
	case code == ECONFLICT || code == ENOTFOUND:
		if err := q.Ack(ctx, job); err != nil {
			return OutcomeReleased, job.Attempt, nil, "ack: " + err.Error()
		}
		return OutcomeSkipped, job.Attempt, nil, ErrorMessage(err)
	case err != nil:
		// The store is down: put the job back without spending an attempt.
		return s.release(ctx, job, "start: "+err.Error())
	}
	attempt := c.Attempts
	if attempt > s.cfg.MaxAttempts {
		// Every earlier attempt started and never reported back: the worker
		// died or hung on this conversation. Stop before it takes down more.
		reason := "analysis failed: gave up after " + strconv.Itoa(attempt-1) + " attempts that never finished (the worker stopped or timed out mid-analysis)"
		if _, err := s.cfg.Store.Transition(ctx, job.Ref(), Transition{Event: EventFail, At: s.cfg.Now().UTC(), Reason: reason}); err != nil && ErrorCode(err) != ECONFLICT {
			return s.release(ctx, job, "record failure: "+err.Error())
		}
		if err := s.cfg.Queue.DeadLetter(ctx, job, reason); err != nil {
			return OutcomeReleased, attempt, nil, "dead-letter: " + err.Error()
		}
		return OutcomeFailed, attempt, nil, reason
	}

	actx, cancel := context.WithTimeout(ctx, s.cfg.AnalyzeTimeout)
	a, err := s.cfg.Analyzer.Analyze(actx, AnalysisInput{ConversationID: c.ID, Title: c.Title, PostType: c.PostType, Content: c.Content})
	cancel()
	if err != nil {
		return s.failed(ctx, job, c, err)
	}
	_, err = s.cfg.Store.Transition(ctx, job.Ref(), Transition{Event: EventDone, At: s.cfg.Now().UTC(), Analysis: &a})
	switch code := ErrorCode(err); {
	case code == ECONFLICT || code == ENOTFOUND:
		// A newer run or a duplicate delivery got there first; its result stands.
		if err := q.Ack(ctx, job); err != nil {
			return OutcomeReleased, attempt, &a, "ack: " + err.Error()
		}
		return OutcomeSkipped, attempt, &a, ErrorMessage(err)
	case err != nil:
		return s.release(ctx, job, "save result: "+err.Error())
	}
	if err := q.Ack(ctx, job); err != nil {
		// The result is stored; a redelivery will find the run done and skip.
		s.log.WarnContext(ctx, "ack failed after result was stored", "conversation_id", job.ConversationID, "error", err.Error())
	}
	return OutcomeDone, attempt, &a, ""
}

// failed decides between retrying and giving up after an analysis error.
func (s *Service) failed(ctx context.Context, job Job, c *Conversation, aerr error) (Outcome, int, *Analysis, string) {
	attempt := c.Attempts
	reason := ErrorMessage(aerr)
	if ErrorCode(aerr) == EINTERNAL {
		reason = aerr.Error()
	}
	now := s.cfg.Now().UTC()
	switch {
	case ErrorCode(aerr) == ETHROTTLED:
		// Come back no sooner than the limiter says a call could go out
		// (spread by a quarter, so paced jobs do not return as one herd);
		// without this a paced job would cycle through the queue at the
		// base backoff, two store writes a turn, while no call is made.
		delay := s.Backoff(1)
		if hint := RetryAfter(aerr); hint > 0 {
			delay = max(delay, min(hint, time.Hour)+rand.N(hint/4+1))
		}
		if _, err := s.cfg.Store.Transition(ctx, job.Ref(), Transition{Event: EventRetry, At: now, Reason: reason, Refund: true}); err != nil && ErrorCode(err) != ECONFLICT {
			return s.release(ctx, job, "record throttle: "+err.Error())
		}
		next := job
		next.Attempt = attempt
		if err := s.cfg.Queue.Retry(ctx, next, delay); err != nil {
			return OutcomeReleased, attempt, nil, "retry: " + err.Error()
		}
		return OutcomeThrottled, attempt, nil, reason
	case Retryable(aerr) && attempt < s.cfg.MaxAttempts:
		if _, err := s.cfg.Store.Transition(ctx, job.Ref(), Transition{Event: EventRetry, At: now, Reason: reason}); err != nil && ErrorCode(err) != ECONFLICT {
			return s.release(ctx, job, "record retry: "+err.Error())
		}
		next := job
		next.Attempt = attempt + 1
		if err := s.cfg.Queue.Retry(ctx, next, s.Backoff(attempt)); err != nil {
			return OutcomeReleased, attempt, nil, "retry: " + err.Error()
		}
		return OutcomeRetry, attempt, nil, reason
	default:
		if !Retryable(aerr) {
			reason = "analysis failed: " + reason
		} else {
			reason = "analysis failed after " + strconv.Itoa(attempt) + " attempts: " + reason
		}
		if _, err := s.cfg.Store.Transition(ctx, job.Ref(), Transition{Event: EventFail, At: now, Reason: reason}); err != nil && ErrorCode(err) != ECONFLICT {
			return s.release(ctx, job, "record failure: "+err.Error())
		}
		if err := s.cfg.Queue.DeadLetter(ctx, job, reason); err != nil {
			return OutcomeReleased, attempt, nil, "dead-letter: " + err.Error()
		}
		return OutcomeFailed, attempt, nil, reason
	}
}

// release puts a job back after a store fault, without spending an attempt.
// If even that fails, the queue's visibility timeout (or, for in-process
// queues, the sweeper) brings it back.
func (s *Service) release(ctx context.Context, job Job, reason string) (Outcome, int, *Analysis, string) {
	if err := s.cfg.Queue.Retry(ctx, job, s.Backoff(1)); err != nil {
		reason += "; retry: " + err.Error()
	}
	return OutcomeReleased, job.Attempt, nil, reason
}

// Backoff returns the delay before attempt+1 after attempt failed:
// exponential from RetryBase, capped at RetryMax, with "equal jitter" (half
// fixed, half random) so retries spread out but never come back at once.
func (s *Service) Backoff(attempt int) time.Duration {
	d := s.cfg.RetryBase
	for i := 1; i < attempt && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	half := d / 2
	return half + rand.N(half+1)
}

// ProcessNow analyses owner's conversation id at once, outside the queue: the
// process function's direct invocation. A conversation that is already done
// or failed is left alone.
func (s *Service) ProcessNow(ctx context.Context, owner, id string) (Outcome, error) {
	c, err := s.Get(ctx, owner, id)
	if err != nil {
		return "", err
	}
	if !c.Status.InProgress() {
		return OutcomeSkipped, nil
	}
	return s.Handle(ctx, JobFor(c, s.cfg.Now())), nil
}

// Sweep re-enqueues conversations that have sat in pending or processing for
// longer than StaleAfter: the safety net under every queue fault. The queue
// ignores jobs it still holds, so only lost work is added. One call reads at
// most maxPages pages of 100 and remembers where it stopped, so a long
// backlog is covered over several calls instead of re-reading its head.
func (s *Service) Sweep(ctx context.Context, maxPages int) (int, error) {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	before := s.cfg.Now().Add(-s.cfg.StaleAfter)
	n := 0
	for range max(maxPages, 1) {
		items, next, err := s.cfg.Store.Stuck(ctx, before, s.sweepCursor, 100)
		if err != nil {
			return n, storeErr(err, "find stuck conversations")
		}
		for _, c := range items {
			if err := s.cfg.Queue.Enqueue(ctx, JobFor(c, s.cfg.Now())); err != nil {
				return n, Wrap(err, EUNAVAILABLE, "the queue is unavailable")
			}
			n++
		}
		s.sweepCursor = next
		if next == "" {
			break
		}
	}
	if n > 0 {
		s.log.InfoContext(ctx, "sweep", "enqueued", n)
	}
	return n, nil
}

// WorkerConfig tunes Work and Drain.
type WorkerConfig struct {
	// Concurrency is how many jobs run at once (8).
	Concurrency int
	// Wait is how long one Receive blocks for work (1s).
	Wait time.Duration
	// SweepEvery runs the sweeper this often while working; 0 disables it.
	SweepEvery time.Duration
	// Grace is how long in-flight jobs may run on after ctx is cancelled
	// (10s); jobs still running then are abandoned to redelivery.
	Grace time.Duration
}

func (w *WorkerConfig) defaults() {
	if w.Concurrency <= 0 {
		w.Concurrency = 8
	}
	if w.Wait <= 0 {
		w.Wait = time.Second
	}
	if w.Grace <= 0 {
		w.Grace = 10 * time.Second
	}
}

// Work receives and handles jobs until ctx is cancelled, then lets in-flight
// jobs finish within the grace period. A failing queue is retried with
// capped exponential backoff, never in a hot loop.
func (s *Service) Work(ctx context.Context, wc WorkerConfig) error {
	wc.defaults()
	// Jobs run on a context that outlives ctx by the grace period, so a
	// shutdown lets them finish instead of cutting them off mid-write.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	var wg sync.WaitGroup
	if wc.SweepEvery > 0 {
		wg.Go(func() { s.SweepLoop(ctx, wc.SweepEvery) })
	}
	slots := make(chan struct{}, wc.Concurrency)
	var jobs sync.WaitGroup
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		batch, err := s.receive(ctx, slots, wc.Wait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			backoff = min(max(backoff*2, 100*time.Millisecond), 5*time.Second)
			s.log.WarnContext(ctx, "receive failed", "error", err.Error(), "retry_in", backoff.String())
			Sleep(ctx, backoff)
			continue
		}
		backoff = 0
		for _, job := range batch {
			jobs.Go(func() {
				defer func() { <-slots }()
				s.Handle(jobCtx, job)
			})
		}
	}
	done := make(chan struct{})
	go func() { jobs.Wait(); wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(wc.Grace):
		cancelJobs()
		<-done
		return errors.New("worker: grace period over; unfinished jobs left for redelivery")
	}
}

// SweepLoop runs Sweep every interval until ctx is cancelled; it returns nil
// then. Work runs it itself when WorkerConfig.SweepEvery is set; an API-only
// process runs it alone. With a non-positive interval it only waits for ctx.
func (s *Service) SweepLoop(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx, 10); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweep failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// DrainReport says what one Drain did.
type DrainReport struct {
	Outcomes map[Outcome]int `json:"outcomes"`
	Swept    int             `json:"swept"`
	Jobs     int             `json:"jobs"`
}

// Drain sweeps once, then receives and handles jobs concurrently until the
// queue is empty or the deadline nears: the scheduled process function. It
// takes no new job unless one analysis (AnalyzeTimeout) still fits before
// the deadline, so no job it starts is cut off half-written; what it leaves
// stays in the queue for the next run.
func (s *Service) Drain(ctx context.Context, deadline time.Time, wc WorkerConfig) (DrainReport, error) {
	wc.defaults()
	rep := DrainReport{Outcomes: map[Outcome]int{}}
	var err error
	if rep.Swept, err = s.Sweep(ctx, 50); err != nil {
		s.log.WarnContext(ctx, "sweep failed", "error", err.Error())
	}
	var mu sync.Mutex
	var jobs sync.WaitGroup
	slots := make(chan struct{}, wc.Concurrency)
	var rerr error
	for {
		left := time.Until(deadline) - s.cfg.AnalyzeTimeout
		if left <= 0 || ctx.Err() != nil {
			break
		}
		batch, err := s.receive(ctx, slots, min(wc.Wait, left))
		if err != nil {
			if ctx.Err() == nil {
				rerr = err
			}
			break
		}
		if len(batch) == 0 {
			break
		}
		for _, job := range batch {
			jobs.Go(func() {
				defer func() { <-slots }()
				o := s.Handle(ctx, job)
				mu.Lock()
				rep.Outcomes[o]++
				rep.Jobs++
				mu.Unlock()
			})
		}
	}
	jobs.Wait()
	return rep, rerr
}

// receive waits for at least one free slot, takes every free slot, asks the
// queue for that many jobs, and gives back the slots it got no job for. Each
// returned job holds one slot, which its handler must release.
func (s *Service) receive(ctx context.Context, slots chan struct{}, wait time.Duration) ([]Job, error) {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	free := 1
	for len(slots) < cap(slots) {
		slots <- struct{}{}
		free++
	}
	batch, err := s.cfg.Queue.Receive(ctx, free, wait)
	for range free - len(batch) {
		<-slots
	}
	return batch, err
}

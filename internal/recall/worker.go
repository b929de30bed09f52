package recall

import (
	"context"
	"errors"
	"fmt"
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
	OutcomeDeferred  Outcome = "deferred"  // the run is held (another attempt runs, or a retry's backoff has not passed); back when the hold ends
)

// Handle processes one delivered job to the end: it marks the conversation
// processing, runs the analyzer, writes the result with a conditional write,
// and only then acks, retries or dead-letters the job. Whatever fails, the
// conversation stays recoverable: a fault in the store or queue leaves the
// job to be delivered again.
func (s *Service) Handle(ctx context.Context, job Job) Outcome {
	start := s.cfg.Now()
	r := s.handle(ctx, job)
	took := s.cfg.Now().Sub(start)
	attrs := []any{"conversation_id", job.ConversationID, "owner", job.Owner, "run", job.Run,
		"attempt", r.attempt, "outcome", string(r.outcome), "duration_ms", took.Milliseconds()}
	if r.reason != "" {
		attrs = append(attrs, "reason", r.reason)
	}
	if a := r.analysis; a != nil {
		attrs = append(attrs, "model", a.Model, "input_tokens", a.Usage.InputTokens,
			"output_tokens", a.Usage.OutputTokens, "cached", a.Cached)
	}
	s.log.InfoContext(ctx, "job", attrs...)
	if s.cfg.Observer != nil {
		s.cfg.Observer.JobFinished(r.outcome, r.attempt, took, r.analysis)
	}
	s.spend(ctx, job.Owner, r.analysis)
	return r.outcome
}

// result is what became of one job: the outcome, and what Handle logs and
// tells the Observer about it.
type result struct {
	outcome  Outcome
	attempt  int       // the attempt the job was on
	analysis *Analysis // set when the model answered, so its usage is counted
	reason   string    // why, for the log; empty when done
}

// handle reads as the job's life: start an attempt, analyse, and settle
// whatever came of it. Every way out goes through start, settle or release,
// so the order of store and queue writes is decided in one place.
func (s *Service) handle(ctx context.Context, job Job) result {
	c, r := s.start(ctx, job)
	if c == nil {
		return r
	}
	if c.Attempts > s.cfg.MaxAttempts {
		// Every earlier attempt started and never reported back: the worker
		// died or hung on this conversation. Stop before it takes down more.
		return s.settle(ctx, job, giveUp(c.Attempts, s.cfg.Now().UTC(),
			"analysis failed: gave up after "+strconv.Itoa(c.Attempts-1)+" attempts that never finished (the worker stopped or timed out mid-analysis)").of(c))
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.AnalyzeTimeout)
	a, err := s.cfg.Analyzer.Analyze(actx, c.analysisInput())
	cancel()
	if err != nil {
		if ErrorCode(err) == EINTERNAL {
			// Its text may name hosts, paths or keys, and the owner reads
			// ai_error: the cause goes to the log only.
			s.log.ErrorContext(ctx, "analysis failed with an internal error", "conversation_id", c.ID, "run", c.Run, "error", err.Error())
		}
		return s.settle(ctx, job, s.afterError(job, c.Attempts, err).of(c))
	}
	return s.settle(ctx, job, settlement{
		result: result{outcome: OutcomeDone, attempt: c.Attempts, analysis: &a},
		record: &Transition{Event: EventDone, At: s.cfg.Now().UTC(), Analysis: &a}, doing: "save result",
		skipIfStale: true, call: callAck,
	}.of(c))
}

// analysisInput is what the analyzer sees of c, and what an analyzer that
// keeps its work is asked to forget of it.
func (c *Conversation) analysisInput() AnalysisInput {
	return AnalysisInput{ConversationID: c.ID, Owner: c.Owner, Title: c.Title, PostType: c.PostType, Content: c.Content, CreatedAt: c.CreatedAt}
}

// lease is how long an attempt holds its conversation: one analysis and
// the write of its result, with a margin.
func (s *Service) lease() time.Duration { return s.cfg.AnalyzeTimeout + s.cfg.LeaseMargin }

// start records that an attempt begins (EventStart counts it and takes the
// conversation's hold) and returns the conversation to analyse. When there
// is nothing to do (a stale run, a finished one, a deleted conversation),
// the run is held by another attempt or a retry's backoff, or the store is
// down, it returns no conversation and the job's settled result instead.
// How an attempt claims its conversation is decided here and nowhere else.
func (s *Service) start(ctx context.Context, job Job) (*Conversation, result) {
	now := s.cfg.Now().UTC()
	c, err := s.cfg.Store.Transition(ctx, job.Ref(), Transition{Event: EventStart, At: now, LeaseUntil: now.Add(s.lease())})
	switch code := ErrorCode(err); {
	case code == ECONFLICT && RetryAfter(err) > 0:
		// Held: come back when the hold ends. The holder settles the run
		// before then (and this delivery finds it finished), or dies and
		// the hold runs out. Nothing is written, no attempt is spent.
		return nil, s.settle(ctx, job, deferral(job, RetryAfter(err), err))
	case code == ECONFLICT && job.IndexRetries > 0:
		// Put back to index the run's result, which is stored.
		return nil, s.reindex(ctx, job)
	case code == ECONFLICT || code == ENOTFOUND:
		// Stale, finished or gone: drop it.
		return nil, s.settle(ctx, job, skip(result{attempt: job.Attempt}, err))
	case err != nil:
		// The store is down: put the job back without spending an attempt.
		return nil, s.release(ctx, job, "start: "+err.Error())
	}
	return c, result{}
}

// deferral settles a job that met a held run: delivered again, as it was,
// a little after the hold ends (so clocks that disagree by a few
// milliseconds do not bounce it back), with nothing recorded.
func deferral(job Job, held time.Duration, err error) settlement {
	return settlement{
		result: result{outcome: OutcomeDeferred, attempt: job.Attempt, reason: ErrorMessage(err)},
		call:   callRetry, next: job, delay: held + held/16 + 5*time.Millisecond,
	}
}

// internalReason is the ai_error of an analysis that failed for a reason
// the analyzer did not classify: its own text is logged, never stored.
const internalReason = "the analysis failed because of an internal error; it was logged"

// afterError decides what an analysis error means for the job: a throttle
// comes back later without spending an attempt (MaxThrottleRetries times a
// run; after that it spends one), a transient error is retried with backoff
// while attempts remain, anything else fails the run. A retry holds the
// conversation for its backoff, so a delivery that comes early (a drain
// finding the job a direct call retried) waits too. It only decides;
// settle makes the decision durable.
func (s *Service) afterError(job Job, attempt int, aerr error) settlement {
	reason := ErrorMessage(aerr)
	if ErrorCode(aerr) == EINTERNAL {
		reason = internalReason
	}
	now := s.cfg.Now().UTC()
	next := job
	throttled := ErrorCode(aerr) == ETHROTTLED
	if throttled {
		next.Throttles++
	}
	switch {
	case throttled && job.Throttles < s.cfg.MaxThrottleRetries:
		// A throttle says "not this second", not "something is wrong": the
		// first comes back after a quarter of the first backoff (0.25-0.5 s
		// with the default RetryBase of 2 s), so a run that meets one or two
		// is not left seconds behind the rest of the queue; each further
		// throttle of the run doubles the wait, so a model throttled for
		// long is asked less and less often before the bound is reached.
		delay := s.throttleDelay(s.Backoff(next.Throttles)/4, aerr)
		next.Attempt = attempt
		return settlement{
			result: result{outcome: OutcomeThrottled, attempt: attempt, reason: reason},
			record: &Transition{Event: EventRetry, At: now, Reason: reason, Refund: true, LeaseUntil: now.Add(delay)}, doing: "record throttle",
			call: callRetry, next: next, delay: delay,
		}
	case throttled && attempt >= s.cfg.MaxAttempts:
		return giveUp(attempt, now, fmt.Sprintf("analysis failed: the model kept throttling: gave up after %d throttled tries over %s; raise the quota or BEDROCK_RPM",
			next.Throttles, s.since(job.EnqueuedAt)))
	case Retryable(aerr) && attempt < s.cfg.MaxAttempts:
		delay := s.Backoff(attempt)
		if throttled {
			delay = s.throttleDelay(s.Backoff(attempt), aerr)
		}
		next.Attempt = attempt + 1
		return settlement{
			result: result{outcome: OutcomeRetry, attempt: attempt, reason: reason},
			record: &Transition{Event: EventRetry, At: now, Reason: reason, LeaseUntil: now.Add(delay)}, doing: "record retry",
			call: callRetry, next: next, delay: delay,
		}
	case !Retryable(aerr):
		return giveUp(attempt, now, "analysis failed: "+reason)
	default:
		return giveUp(attempt, now, "analysis failed after "+strconv.Itoa(attempt)+" attempts: "+reason)
	}
}

// throttleDelay is how long a throttled job waits: delay, and no less than
// the limiter (or Bedrock) says a call could go out (spread by a quarter, so
// paced jobs do not return as one herd). Without the hint a paced job would
// cycle through the queue, two store writes a turn, while no call is made.
func (s *Service) throttleDelay(delay time.Duration, aerr error) time.Duration {
	if hint := RetryAfter(aerr); hint > 0 {
		delay = max(delay, min(hint, time.Hour)+rand.N(hint/4+1))
	}
	return delay
}

// since is how long ago t was, rounded for a person.
func (s *Service) since(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return s.cfg.Now().Sub(t).Round(time.Second).String()
}

// queueCall is how a settled job leaves the queue's hands. Its value names
// the call in a released job's reason.
type queueCall string

const (
	callAck        queueCall = "ack"
	callRetry      queueCall = "retry"
	callDeadLetter queueCall = "dead-letter"
)

// settlement is a decision about a job, for settle to make durable: a
// transition to record, then one queue call, then the result to report.
type settlement struct {
	result
	record *Transition // recorded first; nil when there is nothing to record
	doing  string      // what record is for, naming a store fault in the reason
	// skipIfStale marks record as the job's own result: if a newer run or
	// another delivery got there first (ECONFLICT, ENOTFOUND), that result
	// stands and the job is skipped. Otherwise record only notes why the
	// queue call is made, and a conflict does not stop the call.
	skipIfStale bool
	call        queueCall
	next        Job           // callRetry: the job to deliver again
	delay       time.Duration // callRetry: no sooner than this
	// conv is the conversation the attempt worked on: forgotten if the
	// record finds it deleted, so nothing made of it outlives it.
	conv *Conversation
}

// of returns st for an attempt on conversation c.
func (st settlement) of(c *Conversation) settlement {
	st.conv = c
	return st
}

// skip settles a job there is nothing to do for: acked, with err (the
// store's conflict or not-found) as the reason.
func skip(r result, err error) settlement {
	r.outcome, r.reason = OutcomeSkipped, ErrorMessage(err)
	return settlement{result: r, call: callAck}
}

// giveUp settles a run that will not succeed: the conversation is failed
// with reason, for its owner to read, and the job dead-lettered.
func giveUp(attempt int, now time.Time, reason string) settlement {
	return settlement{
		result: result{outcome: OutcomeFailed, attempt: attempt, reason: reason},
		record: &Transition{Event: EventFail, At: now, Reason: reason}, doing: "record failure",
		call: callDeadLetter,
	}
}

// settle makes st durable, store first: the conversation's state is the
// truth and the queue only carries work to it, so if the process dies
// between the two, the redelivered job meets the new state and does the
// right thing (a finished or failed run is skipped, a pending one retried).
// A store fault releases the job without spending an attempt. A queue fault
// leaves the job to the queue's visibility timeout, except after a stored
// result, which a redelivery finds done and skips.
func (s *Service) settle(ctx context.Context, job Job, st settlement) result {
	if st.record != nil {
		updated, err := s.cfg.Store.Transition(ctx, job.Ref(), *st.record)
		switch code := ErrorCode(err); {
		case err == nil:
			if !updated.Status.InProgress() && s.cfg.Index != nil {
				// The run ended: its result becomes findable before the job
				// leaves the queue, or the job stays to index it.
				if ierr := s.indexFresh(ctx, updated); ierr != nil {
					return s.indexLater(ctx, job, st.result, ierr)
				}
			}
		case code == ENOTFOUND:
			// Deleted under this attempt: nothing is written back, and
			// what the attempt made of it (a cached analysis) goes too.
			if st.conv != nil {
				s.forget(ctx, st.conv)
			}
			st = skip(st.result, err)
		case st.skipIfStale && code == ECONFLICT:
			// A newer run or a duplicate delivery got there first; its result stands.
			st = skip(st.result, err)
		case !st.skipIfStale && code == ECONFLICT:
			// The run moved on (reprocessed, or settled by another
			// delivery); this delivery still leaves the queue.
		default:
			return s.release(ctx, job, st.doing+": "+err.Error())
		}
	}
	var err error
	switch st.call {
	case callAck:
		err = s.cfg.Queue.Ack(ctx, job)
	case callRetry:
		err = s.cfg.Queue.Retry(ctx, st.next, st.delay)
	case callDeadLetter:
		err = s.cfg.Queue.DeadLetter(ctx, job, st.reason)
	}
	switch {
	case err == nil:
	case st.outcome == OutcomeDone:
		// The result is stored; a redelivery will find the run done and skip.
		s.log.WarnContext(ctx, "ack failed after result was stored", "conversation_id", job.ConversationID, "error", err.Error())
	default:
		st.outcome, st.reason = OutcomeReleased, string(st.call)+": "+err.Error()
	}
	return st.result
}

// release puts a job back after a store fault, without spending an attempt.
// If even that fails, the queue's visibility timeout (or, for in-process
// queues, the sweeper) brings it back.
func (s *Service) release(ctx context.Context, job Job, reason string) result {
	if err := s.cfg.Queue.Retry(ctx, job, s.Backoff(1)); err != nil {
		reason += "; retry: " + err.Error()
	}
	return result{outcome: OutcomeReleased, attempt: job.Attempt, reason: reason}
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
// or failed is left alone, and so is one that is held: another attempt is
// analysing it (a drain got there first), or a retry waits out its backoff.
// Its queued job comes back to it either way.
func (s *Service) ProcessNow(ctx context.Context, owner, id string) (Outcome, error) {
	c, err := s.Get(ctx, owner, id)
	if err != nil {
		return "", err
	}
	if !c.Status.InProgress() || c.LeaseUntil.After(s.cfg.Now()) {
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
	s.repairItems(ctx, before)
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

package recall

import (
	"context"
	"time"
)

// How the Service keeps Config.Index in step with the store, so that no
// conversation is lost from search for good:
//
//   - Create hands the new conversation to the index before answering.
//     An index that can queue (accepter) takes it without writing it
//     yet, and its Search waits for what was queued before the search
//     began, so the conversation is found by title and content as soon as
//     the client has its 201 without the create paying for the write; the
//     index retries a failed write itself, and its watermark never covers
//     a queued change, so a crash before the write is caught up at start.
//     Any other index is written before answering. A failure is logged,
//     not returned (the conversation is stored): the run's end indexes it
//     again.
//   - When a run ends (done or failed), the worker indexes the stored
//     result before the job leaves the queue (indexFresh). If that fails,
//     the job is put back with IndexRetries counted, with backoff and
//     without spending an attempt; delivered again, it finds the run
//     finished and only indexes it (reindex), as long as it takes. The
//     queue is durable where the deployment is (Redis), and on the
//     embedded default the index's own watermark covers a restart:
//     CatchUp at start indexes whatever changed after what it holds.
//   - Delete removes the entry after the store has deleted the
//     conversation (forget); a worker that finds its conversation deleted
//     under it removes what it made; a search drops a hit it cannot load
//     and removes that entry too.

// accepter is an Index that can queue a change and write it in the
// background, in order with everything else it is given; a Search that
// begins after Accept returned sees the change.
type accepter interface {
	Accept(ctx context.Context, c *Conversation) error
}

// indexCreated indexes a conversation just created. It runs before the
// job is enqueued, so a worker's indexing of the finished run (queued
// behind it, or written after it) can never be overwritten by this older
// version.
func (s *Service) indexCreated(ctx context.Context, c *Conversation) {
	if s.cfg.Index == nil {
		return
	}
	var err error
	if a, ok := s.cfg.Index.(accepter); ok {
		err = a.Accept(ctx, c)
	} else {
		err = s.cfg.Index.Index(ctx, c)
	}
	if err != nil {
		s.log.WarnContext(ctx, "index failed; the run's end indexes it again",
			"conversation_id", c.ID, "error", err.Error())
	}
}

// indexFresh indexes c, a version just read from or written to the store,
// then reads it back, because another writer may have raced this one:
//
//   - deleted meanwhile: a delete whose index removal ran before this
//     write would leave the entry behind, so it is removed here;
//   - changed meanwhile (a newer run finished and indexed first): this
//     write put an older version over it, so the stored one is indexed.
//
// A few rounds settle any interleaving in practice; the last version read
// is what the index holds.
func (s *Service) indexFresh(ctx context.Context, c *Conversation) error {
	for range 3 {
		if err := s.cfg.Index.Index(ctx, c); err != nil {
			return err
		}
		now, err := s.cfg.Store.Get(ctx, c.Owner, c.ID)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			s.forget(ctx, c)
			return nil
		case err != nil || (now.UpdatedAt.Equal(c.UpdatedAt) && now.Run == c.Run):
			// Unchanged, or the store cannot tell: what was indexed stands.
			return nil
		}
		c = now
	}
	return nil
}

// indexLater puts back a job whose run's result is stored but could not be
// indexed, to index it when delivered again (IndexRetries), with backoff
// and without spending an attempt. r is the settled result, reported as
// it was: the analysis is stored.
func (s *Service) indexLater(ctx context.Context, job Job, r result, ierr error) result {
	next := job
	next.IndexRetries++
	delay := s.throttleDelay(s.Backoff(next.IndexRetries), ierr)
	r.reason = "index: " + ErrorMessage(ierr) + "; retried in " + delay.Round(time.Millisecond).String()
	s.log.WarnContext(ctx, "index failed; retrying", "conversation_id", job.ConversationID, "run", job.Run,
		"index_retries", next.IndexRetries, "error", ierr.Error())
	if err := s.cfg.Queue.Retry(ctx, next, delay); err != nil {
		// The queue's visibility timeout brings the job back; as a plain
		// delivery it finds the run finished and is dropped, and the entry
		// waits for CatchUp or the next change.
		r.reason += "; retry: " + err.Error()
	}
	return r
}

// reindex serves a job put back by indexLater: the run is finished, so it
// indexes the stored conversation and then leaves the queue as the run's
// settle would have (acked when done, dead-lettered when failed). A newer
// run, or a deleted conversation, makes it moot.
func (s *Service) reindex(ctx context.Context, job Job) result {
	r := result{outcome: OutcomeSkipped, attempt: job.Attempt}
	c, err := s.cfg.Store.Get(ctx, job.Owner, job.ConversationID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		if s.cfg.Index != nil {
			s.forget(ctx, &Conversation{ID: job.ConversationID, Owner: job.Owner})
		}
		return s.settle(ctx, job, skip(r, err))
	case err != nil:
		return s.release(ctx, job, "reindex: "+err.Error())
	case c.Run != job.Run || c.Status.InProgress() || s.cfg.Index == nil:
		// A newer run's end indexes it.
		r.reason = "a newer run is under way"
		return s.settle(ctx, job, settlement{result: r, call: callAck})
	}
	if err := s.indexFresh(ctx, c); err != nil {
		r.outcome = OutcomeReleased
		return s.indexLater(ctx, job, r, err)
	}
	r.reason = "indexed the finished run"
	st := settlement{result: r, call: callAck}
	if c.Status == StatusFailed {
		st.call, st.reason = callDeadLetter, c.Error
	}
	return s.settle(ctx, job, st)
}

package recall

import (
	"context"
	"fmt"
	"slices"
)

// RedriveReport says what Redrive did.
type RedriveReport struct {
	// Restarted counts conversations given a new run.
	Restarted int `json:"restarted"`
	// Removed counts dead letters taken off the list.
	Removed int `json:"removed"`
}

// Redrive gives the conversations of the named dead letters (all of them
// when ids is empty) another chance, and takes the letters off dl's list.
//
// A dead letter's run has failed for good: its conversation is failed, and
// a job for that run would only be skipped. So each conversation still on
// that run and failed starts a new run, as a reprocess does (attempts
// reset), which is enqueued; only then is its letter removed, so a crash in
// between leaves the letter to redrive again and loses nothing. A letter
// whose conversation has moved on (reprocessed since, or gone) is removed
// with nothing restarted. An undecodable letter is left for an operator.
func (s *Service) Redrive(ctx context.Context, dl DeadLetters, ids []string) (RedriveReport, error) {
	var rep RedriveReport
	letters, err := dl.DeadLetters(ctx, 0)
	if err != nil {
		return rep, fmt.Errorf("list dead letters: %w", err)
	}
	for _, d := range letters {
		if len(ids) > 0 && !slices.Contains(ids, d.ID) {
			continue
		}
		if !d.Job.Priority.Valid() || !ValidID(d.Job.ConversationID) {
			continue
		}
		restarted, err := s.redriveRun(ctx, d.Job)
		if err != nil {
			return rep, fmt.Errorf("redrive %s (conversation %s): %w", d.ID, d.Job.ConversationID, err)
		}
		if restarted {
			rep.Restarted++
		}
		// The queue has no call that only deletes a letter: Redrive moves
		// it back as a job for its old run, which the worker skips as
		// stale (or, if the conversation was not restarted, runs as
		// before).
		n, err := dl.Redrive(ctx, []string{d.ID})
		if err != nil {
			return rep, fmt.Errorf("remove dead letter %s: %w", d.ID, err)
		}
		rep.Removed += n
	}
	return rep, nil
}

// redriveRun starts a new run of job's conversation if job's run is still
// its current one and failed, and enqueues it. It reports whether it did.
func (s *Service) redriveRun(ctx context.Context, job Job) (bool, error) {
	c, err := s.cfg.Store.Get(ctx, job.Owner, job.ConversationID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return false, nil
	case err != nil:
		return false, storeErr(err, "read the conversation")
	case c.Run != job.Run || c.Status != StatusFailed:
		return false, nil
	}
	c, err = s.cfg.Store.Transition(ctx, c.Ref(), Transition{Event: EventReprocess, At: s.cfg.Now().UTC()})
	switch ErrorCode(err) {
	case "":
	case ECONFLICT, ENOTFOUND:
		// Someone reprocessed it meanwhile; that run stands.
		return false, nil
	default:
		return false, storeErr(err, "restart the analysis")
	}
	// A failed enqueue is logged; the sweeper enqueues the pending run.
	s.enqueue(ctx, c)
	return true, nil
}

package recall

import (
	"context"
	"time"
)

// Forgetter is implemented by an analyzer that keeps what it made of a
// conversation (a cache of analyses). The Service calls Forget when the
// conversation is deleted, and when a worker finds the conversation it
// analysed deleted under it, so nothing made of a deleted conversation
// outlives it. A failure is logged; the entries then expire on their own.
type Forgetter interface {
	Forget(ctx context.Context, in AnalysisInput) error
}

// forgetTimeout bounds the clean-up after a delete, which runs even when
// the request that asked for it has gone.
const forgetTimeout = 10 * time.Second

// Delete deletes owner's conversation id: the record with its idempotency
// key (Store.Delete), then its index entry and its cached analysis
// (forget). A job still queued or running for it ends without writing
// anything back, since every store write of it answers ENOTFOUND.
// ENOTFOUND for a missing id or someone else's, so a second delete is
// ENOTFOUND too; EUNAVAILABLE when the store fails, and then nothing is
// deleted that a retry would not delete.
func (s *Service) Delete(ctx context.Context, owner, id string) error {
	if !ValidID(id) {
		return Errorf(ENOTFOUND, "No conversation with id %q.", Truncate(id, 40))
	}
	c, err := s.cfg.Store.Delete(ctx, owner, id)
	if err != nil {
		return storeErr(err, "delete the conversation")
	}
	s.forget(ctx, c)
	return nil
}

// forget removes what was made of c, which is no longer in the store: its
// index entry (tried three times, then logged: a search that meets the
// entry drops it and removes it) and what the analyzer keeps of it. It
// runs to the end even if ctx is cancelled.
func (s *Service) forget(ctx context.Context, c *Conversation) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	if s.cfg.Index != nil {
		var err error
		for i := range 3 {
			if err = s.cfg.Index.Delete(ctx, c.Owner, c.ID); err == nil {
				break
			}
			if i == 2 || Sleep(ctx, time.Duration(50<<i)*time.Millisecond) != nil {
				break
			}
		}
		if err != nil {
			s.log.ErrorContext(ctx, "index entry of a deleted conversation left behind; a search that meets it removes it",
				"conversation_id", c.ID, "error", err.Error())
		}
	}
	if f, ok := s.cfg.Analyzer.(Forgetter); ok && c.Content != "" {
		if err := f.Forget(ctx, c.analysisInput()); err != nil {
			s.log.WarnContext(ctx, "cached analysis of a deleted conversation not forgotten; it expires by itself",
				"conversation_id", c.ID, "error", err.Error())
		}
	}
}

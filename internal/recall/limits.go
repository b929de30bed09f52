package recall

import (
	"context"
	"time"
)

// Limiter holds each owner to per-owner limits, so that one user can
// neither take every worker nor run up the model bill: requests (creates
// and reprocesses) per second with a burst, and model tokens per day.
// Implementations must be safe for concurrent use; package ratelimit has
// the one Recall uses, shared through Redis or kept in the process.
type Limiter interface {
	// Admit takes one request of owner's from the limits. Over a limit it
	// returns ERATELIMITED with RetryAfter set and a message that says
	// which limit; any other error means the limiter could not tell.
	Admit(ctx context.Context, owner string) error
	// Spend counts tokens that one of owner's analyses used against the
	// owner's budget for the day.
	Spend(ctx context.Context, owner string, tokens int) error
}

// limiterTimeout bounds one call to the Limiter, which may be a round trip
// to Redis: a slow limiter must not hold up a request or a finished job.
const limiterTimeout = 2 * time.Second

// Admit applies the per-owner limits to a create or reprocess a client
// asks for: the API calls it before it reads the request, so a client over
// its limit costs no more than the refusal. Over a limit it returns
// ERATELIMITED (429 over HTTP, with Retry-After). An operator's bulk
// reprocess (ReprocessAll) is not a client's request and is not limited.
//
// A limiter that cannot tell (its state unreachable even in-process)
// admits, and says so in the log: the limits protect the service, and must
// not be what takes it down.
func (s *Service) Admit(ctx context.Context, owner string) error {
	if s.cfg.Limiter == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, limiterTimeout)
	defer cancel()
	err := s.cfg.Limiter.Admit(lctx, owner)
	if err != nil && ErrorCode(err) != ERATELIMITED {
		s.log.WarnContext(ctx, "per-owner limits not checked; admitting", "owner", owner, "error", err.Error())
		return nil
	}
	return err
}

// spend tells the Limiter what a finished analysis of owner's used, so the
// owner's daily token budget sees it. Handle calls it once per job whose
// analysis the model answered; a failure is logged, never returned, since
// the analysis is already stored.
func (s *Service) spend(ctx context.Context, owner string, a *Analysis) {
	if s.cfg.Limiter == nil || a == nil {
		return
	}
	tokens := a.Usage.InputTokens + a.Usage.OutputTokens
	if tokens <= 0 {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limiterTimeout)
	defer cancel()
	if err := s.cfg.Limiter.Spend(lctx, owner, tokens); err != nil {
		s.log.WarnContext(ctx, "tokens not counted against the owner's daily budget", "owner", owner, "tokens", tokens, "error", err.Error())
	}
}

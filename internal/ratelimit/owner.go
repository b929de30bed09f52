package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"recall/internal/recall"
)

// OwnerLimits configures Owners. A zero limit is no limit.
type OwnerLimits struct {
	// RequestsPerSecond and Burst bound each owner's creates and
	// reprocesses: Burst at once, then RequestsPerSecond sustained.
	RequestsPerSecond float64
	Burst             int
	// TokensPerDay bounds the model tokens (input plus output) an owner's
	// analyses may spend in a UTC day; once spent, requests are refused
	// until midnight UTC.
	TokensPerDay int
	// State keeps the counts: shared (Redis) so every process applies one
	// limit, or nil for this process only.
	State State
	// Now is the clock, for tests.
	Now func() time.Time
}

// Owners applies per-owner limits: a token bucket per owner for requests,
// and a count per owner and UTC day of the tokens their analyses spent.
// Its keys in State are owner-requests:<owner> and
// owner-tokens:<yyyy-mm-dd>:<owner>; each expires once it means nothing
// (a full bucket, a day past).
type Owners struct {
	o        OwnerLimits
	requests *Buckets
	state    State
	// spendMu keeps this process's own Spend calls from racing each other
	// on the state; other processes are settled by CompareAndSwap.
	spendMu sync.Mutex
}

var _ recall.Limiter = (*Owners)(nil)

// NewOwners returns the limits o describes. It does no I/O.
func NewOwners(o OwnerLimits) *Owners {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.State == nil {
		o.State = NewMemoryStateAt(o.Now)
	}
	var rate Rate
	if o.RequestsPerSecond > 0 {
		rate = Rate{N: o.RequestsPerSecond, Per: time.Second, Burst: float64(max(o.Burst, 1))}
	}
	return &Owners{o: o, state: o.State, requests: New(o.State, o.Now, rate)}
}

// Admit implements recall.Limiter: it refuses when owner's tokens today
// have reached TokensPerDay (until midnight UTC), and otherwise takes one
// request from owner's bucket, refusing when it is empty (until one more
// fits). A refusal by the token budget takes no request.
func (l *Owners) Admit(ctx context.Context, owner string) error {
	if l.o.TokensPerDay > 0 {
		now := l.o.Now().UTC()
		spent, _, err := l.spent(ctx, owner, now)
		if err != nil {
			return err
		}
		if spent >= l.o.TokensPerDay {
			wait := untilMidnight(now)
			return &recall.Error{Code: recall.ERATELIMITED, RetryAfter: wait, Message: fmt.Sprintf(
				"Daily model-token budget used up: your analyses have used %d of the %d tokens each owner may spend per day (UTC). It renews at midnight UTC, in %s.",
				spent, l.o.TokensPerDay, wait.Round(time.Minute))}
		}
	}
	if !l.requests.Limited() {
		return nil
	}
	wait, ok, err := l.requests.Reserve(ctx, "owner-requests:"+owner, 0, 1)
	if err != nil {
		return err
	}
	if !ok {
		return &recall.Error{Code: recall.ERATELIMITED, RetryAfter: wait, Message: fmt.Sprintf(
			"Too many requests: each owner may create or reprocess %s conversations per second, in bursts of up to %d. Retry in %s.",
			strconv.FormatFloat(l.o.RequestsPerSecond, 'f', -1, 64), max(l.o.Burst, 1), wait.Round(time.Millisecond))}
	}
	return nil
}

// Spend implements recall.Limiter: it adds tokens to owner's count for
// the current UTC day (nothing when there is no daily budget).
func (l *Owners) Spend(ctx context.Context, owner string, tokens int) error {
	if l.o.TokensPerDay <= 0 || tokens <= 0 {
		return nil
	}
	l.spendMu.Lock()
	defer l.spendMu.Unlock()
	now := l.o.Now().UTC()
	for range maxSwaps {
		spent, old, err := l.spent(ctx, owner, now)
		if err != nil {
			return err
		}
		// Kept an hour past the day's end, so a process whose clock is a
		// little behind still finds the day it is counting.
		ttl := untilMidnight(now) + time.Hour
		ok, err := l.state.CompareAndSwap(ctx, tokensKey(owner, now), old, strconv.AppendInt(nil, int64(spent)+int64(tokens), 10), ttl)
		if err != nil {
			return fmt.Errorf("ratelimit: spend %d tokens for %s: %w", tokens, owner, err)
		}
		if ok {
			return nil
		}
	}
	return recall.Errorf(recall.ETHROTTLED, "ratelimit: the token count of %s changed under %d tries in a row", owner, maxSwaps)
}

// spent returns the tokens owner has spent on now's UTC day and the stored
// value it read them from (nil when there is none).
func (l *Owners) spent(ctx context.Context, owner string, now time.Time) (int, []byte, error) {
	v, err := l.state.Load(ctx, tokensKey(owner, now))
	if err != nil {
		return 0, nil, fmt.Errorf("ratelimit: tokens spent by %s: %w", owner, err)
	}
	if v == nil {
		return 0, nil, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		// Unreadable: count from zero rather than refuse everyone.
		return 0, v, nil
	}
	return n, v, nil
}

func tokensKey(owner string, now time.Time) string {
	return "owner-tokens:" + now.Format(time.DateOnly) + ":" + owner
}

// untilMidnight is how long from now (UTC) to the start of the next UTC
// day, when daily budgets renew.
func untilMidnight(now time.Time) time.Duration {
	y, m, d := now.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Sub(now)
}

package bedrock

import (
	"context"
	"fmt"
	"time"

	"recall/internal/ratelimit"
	"recall/internal/recall"
)

// Limiter paces model calls to stay under the account's Bedrock quotas
// (requests and tokens per minute). The analyzer calls Wait before each call
// with an estimate (input estimate + maxTokens, which is what Bedrock itself
// reserves when a request starts), Record after it with what the call really
// cost against the quota, and Throttled when Bedrock answered
// ThrottlingException anyway. Implementations must be safe for concurrent
// use.
type Limiter interface {
	// Wait blocks until a call estimated at estTokens quota tokens fits, and
	// reserves it. It returns ctx's error, or ETHROTTLED with RetryAfter set
	// to the wait when the wait would outlast ctx's deadline (without
	// waiting or reserving anything).
	Wait(ctx context.Context, estTokens int) error
	// Record corrects a reservation of estTokens to the actualTokens the
	// call consumed (0 when Bedrock refused it before the model ran).
	Record(ctx context.Context, estTokens, actualTokens int)
	// Throttled says Bedrock refused a call for being over quota.
	Throttled(ctx context.Context)
}

// LimiterOptions configures RateLimiter.
type LimiterOptions struct {
	// RequestsPerMinute and TokensPerMinute are the quotas to stay under
	// (Service Quotas: "…requests per minute for <model>", "…tokens per
	// minute for <model>"), 0 for none. Tokens count as Bedrock counts
	// them: input plus output times the model's burndown rate.
	RequestsPerMinute int
	TokensPerMinute   int
	// Model names the budget: limiters with the same Model and State share
	// one (the quota is per model). Its key in State is "limit:<Model>".
	Model string
	// State keeps the buckets; nil keeps them in this limiter only.
	State ratelimit.State
	// Now and Sleep replace the clock, for tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// RateLimiter paces calls under configured quotas with two token buckets,
// requests and tokens per minute (package ratelimit's arithmetic). Each
// bucket holds at most one minute of quota and refills continuously; a
// reservation may drive a bucket negative, and the caller then waits until
// it is back at zero. A call bigger than a whole minute of token quota
// reserves one minute's worth, so it waits for full buckets instead of
// forever. With no quota configured every call goes at once.
//
// It does not learn a rate from throttling, as an earlier version did (half
// the observed rate after a ThrottlingException, additive recovery,
// cooldowns). That earned less than it cost: the worker already retries a
// throttled job later without spending an attempt and honours the error's
// RetryAfter, so throttling alone keeps the fleet near the quota; and the
// learned rate collapsed when the model throttled early, a handful of calls
// into a run, leaving jobs waiting tens of seconds in the limiter for a
// quota that was never that low. An operator who knows the quota sets
// BEDROCK_RPM / BEDROCK_TPM, and then Throttled empties the buckets (Bedrock
// has just said this minute's quota is spent).
//
// Where the buckets live is the State's business: every worker given the
// same shared State paces against one budget per model.
type RateLimiter struct {
	rpm, tpm float64 // 0: no quota
	key      string
	buckets  *ratelimit.Buckets
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
}

var _ Limiter = (*RateLimiter)(nil)

// The buckets' order in the state: requests, then tokens.
const (
	reqBucket = 0
	tokBucket = 1
)

// NewLimiter returns a limiter. It does no I/O.
func NewLimiter(o LimiterOptions) *RateLimiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = recall.Sleep
	}
	rpm, tpm := float64(max(o.RequestsPerMinute, 0)), float64(max(o.TokensPerMinute, 0))
	return &RateLimiter{
		rpm: rpm, tpm: tpm, key: "limit:" + o.Model, now: o.Now, sleep: o.Sleep,
		buckets: ratelimit.New(o.State, o.Now,
			ratelimit.Rate{N: rpm, Per: time.Minute, Burst: rpm},
			ratelimit.Rate{N: tpm, Per: time.Minute, Burst: tpm}),
	}
}

// update applies change to this model's buckets (see ratelimit.Buckets.Update).
func (l *RateLimiter) update(ctx context.Context, change func(b []float64) bool) ([]float64, bool, error) {
	b, ok, err := l.buckets.Update(ctx, l.key, change)
	if err != nil {
		return nil, false, fmt.Errorf("bedrock: limiter: %w", err)
	}
	return b, ok, nil
}

// Reserve takes one request and estTokens tokens from the buckets and
// returns how long the caller must wait before calling (0: at once), the
// decision Wait acts on. When the wait would exceed maxWait (maxWait >= 0)
// it reserves nothing and reports ok=false.
func (l *RateLimiter) Reserve(ctx context.Context, estTokens int, maxWait time.Duration) (wait time.Duration, ok bool, err error) {
	if l.rpm == 0 && l.tpm == 0 {
		return 0, true, nil
	}
	wait, ok, err = l.buckets.Reserve(ctx, l.key, maxWait, 1, float64(estTokens))
	if err != nil {
		return 0, false, fmt.Errorf("bedrock: limiter: %w", err)
	}
	return wait, ok, nil
}

// unreserve gives back a reservation whose call was never made.
func (l *RateLimiter) unreserve(ctx context.Context, estTokens int) error {
	_, _, err := l.update(ctx, func(b []float64) bool {
		b[reqBucket] = min(b[reqBucket]+1, l.rpm)
		b[tokBucket] = min(b[tokBucket]+min(float64(estTokens), l.tpm), l.tpm)
		return true
	})
	return err
}

// Wait implements Limiter.
func (l *RateLimiter) Wait(ctx context.Context, estTokens int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	maxWait := time.Duration(-1)
	if deadline, ok := ctx.Deadline(); ok {
		maxWait = max(deadline.Sub(l.now()), 0)
	}
	d, ok, err := l.Reserve(ctx, estTokens, maxWait)
	switch {
	case err != nil:
		return err
	case !ok:
		return &recall.Error{Code: recall.ETHROTTLED, RetryAfter: d,
			Message: fmt.Sprintf("pacing Bedrock calls under the configured quota: the next call fits in %s, after this job's deadline", d.Round(time.Millisecond))}
	case d <= 0:
		return nil
	}
	if err := l.sleep(ctx, d); err != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		l.unreserve(uctx, estTokens)
		return err
	}
	return nil
}

// Record implements Limiter: the token bucket gets back what the estimate
// overstated (or pays what it understated).
func (l *RateLimiter) Record(ctx context.Context, estTokens, actualTokens int) {
	if l.tpm == 0 {
		return
	}
	l.update(ctx, func(b []float64) bool {
		b[tokBucket] = min(b[tokBucket]+min(float64(estTokens), l.tpm)-float64(actualTokens), l.tpm)
		return true
	})
}

// Throttled implements Limiter: with a quota configured, both buckets are
// emptied, since Bedrock has just said this minute's quota is spent; the
// next calls wait for them to refill. Without one it does nothing: the
// throttled job is retried later by the queue.
func (l *RateLimiter) Throttled(ctx context.Context) {
	if l.rpm == 0 && l.tpm == 0 {
		return
	}
	l.update(ctx, func(b []float64) bool {
		b[reqBucket], b[tokBucket] = min(b[reqBucket], 0), min(b[tokBucket], 0)
		return true
	})
}

// Levels reports what the buckets hold now (requests, tokens), for tests
// and the CLI.
func (l *RateLimiter) Levels(ctx context.Context) (requests, tokens float64, err error) {
	b, _, err := l.update(ctx, func([]float64) bool { return false })
	if err != nil {
		return 0, 0, err
	}
	return b[reqBucket], b[tokBucket], nil
}

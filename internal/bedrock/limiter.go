package bedrock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limiter paces model calls to stay under the account's Bedrock quotas
// (requests and tokens per minute). The analyzer calls Wait before each call
// with an estimate (input estimate + maxTokens, which is what Bedrock itself
// reserves when a request starts), Record after it with what the call really
// cost against the quota, and Throttled when Bedrock answered
// ThrottlingException anyway.
//
// The interface is small so a limiter shared by several processes (in Redis,
// say) can implement it: Record carries the estimate back so an
// implementation needs no per-call state, and every method takes a context
// for its own I/O. Implementations must be safe for concurrent use.
type Limiter interface {
	// Wait blocks until a call estimated at estTokens quota tokens fits, and
	// reserves it. It returns ctx's error, or an error wrapping ErrPaced
	// when the wait would outlast ctx's deadline (without waiting).
	Wait(ctx context.Context, estTokens int) error
	// Record corrects a reservation of estTokens to the actualTokens the
	// call consumed (0 when Bedrock refused it before the model ran).
	Record(ctx context.Context, estTokens, actualTokens int)
	// Throttled slows the pace down for a while: Bedrock says we are over
	// quota even though the limiter thought otherwise.
	Throttled(ctx context.Context)
}

// ErrPaced means the limiter would make a call wait past the context's
// deadline. The analyzer reports it as ETHROTTLED, so the queue retries the
// job later without spending an attempt.
var ErrPaced = errors.New("bedrock: pacing wait would outlast the deadline")

// PacedError is what a limiter returns instead of waiting past the deadline:
// it wraps ErrPaced and says how long the wait would have been, which the
// analyzer passes on as the error's RetryAfter so the job comes back when a
// call can go out.
type PacedError struct{ Wait time.Duration }

func (e *PacedError) Error() string {
	return fmt.Sprintf("%v (would wait %s)", ErrPaced, e.Wait.Round(time.Millisecond))
}

func (e *PacedError) Unwrap() error { return ErrPaced }

// LimiterOptions configures RateLimiter. Zero limits mean "no limit known":
// the limiter then lets calls through until the first throttle, and from then
// on paces at half the rate it had observed.
type LimiterOptions struct {
	// RequestsPerMinute and TokensPerMinute are the quotas to stay under
	// (Service Quotas: "…requests per minute for <model>", "…tokens per
	// minute for <model>"). Tokens count as Bedrock counts them: input plus
	// output times the model's burndown rate.
	RequestsPerMinute int
	TokensPerMinute   int
	// Cooldown is how long a throttle keeps the rate reduced (1 minute).
	// Each further throttle within it halves the rate again, down to 1/16.
	Cooldown time.Duration
	// Now and Sleep replace the clock, for tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// RateLimiter is the in-process Limiter: two token buckets (requests and
// tokens), each holding at most one minute of quota and refilling
// continuously. A reservation may drive a bucket negative; the caller then
// waits until it has refilled to zero. Reserve exposes the decision so it can
// be tested without waiting.
type RateLimiter struct {
	mu       sync.Mutex
	rpm, tpm float64 // configured; 0 = unlimited
	cooldown time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	reqLevel, tokLevel float64
	last               time.Time
	factor             float64   // 1, or less while slowed
	slowUntil          time.Time // end of the current slowdown
	halvedAt           time.Time // when the factor was last halved
	learnedRPM         float64   // rates observed at the first throttle, when unlimited
	learnedTPM         float64

	// The observed rate is a sliding-window count, the same arithmetic the
	// shared Redis limiter runs: requests and tokens in the current window
	// (starting at ws) and in the one before it.
	ws             time.Time
	curReq, curTok float64
	preReq, preTok float64
}

var _ Limiter = (*RateLimiter)(nil)

const minFactor = 1.0 / 16

// throttleDebounce is how soon after one halving a throttle may halve the
// rate again. Calls admitted before a slowdown keep answering for a while;
// their throttles say nothing about the new pace, and counting each of them
// would collapse the rate to the floor after one burst.
const throttleDebounce = 5 * time.Second

// recoveryStep is what each call the model answered adds back to a slowed
// rate factor (additive increase, multiplicative decrease, as TCP does): a
// pace learned from one early burst, or cut by a throttle that was bad luck
// rather than a quota, climbs back while calls succeed, and a real quota
// keeps the pace oscillating just under it.
const recoveryStep = 1.0 / 16

// NewLimiter returns an in-process limiter.
func NewLimiter(o LimiterOptions) *RateLimiter {
	if o.Cooldown <= 0 {
		o.Cooldown = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	l := &RateLimiter{
		rpm: float64(max(o.RequestsPerMinute, 0)), tpm: float64(max(o.TokensPerMinute, 0)),
		cooldown: o.Cooldown, now: o.Now, sleep: o.Sleep, factor: 1,
	}
	l.last = l.now()
	l.reqLevel, l.tokLevel = l.rpm, l.tpm
	return l
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rates returns the effective per-minute limits at now (0 = unlimited),
// ending a slowdown whose cooldown has passed.
func (l *RateLimiter) rates(now time.Time) (rpm, tpm float64) {
	if l.factor < 1 && !now.Before(l.slowUntil) {
		l.factor, l.learnedRPM, l.learnedTPM = 1, 0, 0
	}
	rpm, tpm = l.rpm, l.tpm
	if rpm == 0 {
		rpm = l.learnedRPM
	}
	if tpm == 0 {
		tpm = l.learnedTPM
	}
	return rpm * l.factor, tpm * l.factor
}

// refill adds what the buckets earned since the last update, capped at one
// minute of quota.
func (l *RateLimiter) refill(now time.Time) (rpm, tpm float64) {
	rpm, tpm = l.rates(now)
	if el := now.Sub(l.last).Minutes(); el > 0 {
		l.reqLevel = min(l.reqLevel+rpm*el, rpm)
		l.tokLevel = min(l.tokLevel+tpm*el, tpm)
		l.last = now
	}
	l.reqLevel, l.tokLevel = min(l.reqLevel, rpm), min(l.tokLevel, tpm)
	return rpm, tpm
}

// Reserve takes one request and estTokens tokens from the buckets and returns
// how long the caller must wait before calling (0: at once). A call larger
// than a whole minute of token quota reserves one minute's worth, so it waits
// for full buckets instead of forever.
func (l *RateLimiter) Reserve(estTokens int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	rpm, tpm := l.refill(now)
	var wait time.Duration
	if rpm > 0 {
		l.reqLevel--
		wait = max(wait, deficit(l.reqLevel, rpm))
	}
	if tpm > 0 {
		l.tokLevel -= min(float64(estTokens), tpm)
		wait = max(wait, deficit(l.tokLevel, tpm))
	}
	// The slowed pace ends with the slowdown: no wait outlasts it.
	if l.factor < 1 {
		wait = min(wait, max(l.slowUntil.Sub(now), 0))
	}
	l.roll(now)
	l.curReq++
	return wait
}

// deficit is how long a bucket at level takes to refill to zero at perMinute.
func deficit(level, perMinute float64) time.Duration {
	if level >= 0 {
		return 0
	}
	return time.Duration(-level / perMinute * float64(time.Minute))
}

// unreserve gives back a reservation whose call was never made.
func (l *RateLimiter) unreserve(estTokens int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rpm, tpm := l.refill(l.now())
	if rpm > 0 {
		l.reqLevel = min(l.reqLevel+1, rpm)
	}
	if tpm > 0 {
		l.tokLevel = min(l.tokLevel+min(float64(estTokens), tpm), tpm)
	}
	l.roll(l.now())
	l.curReq = max(l.curReq-1, 0)
}

// Wait implements Limiter.
func (l *RateLimiter) Wait(ctx context.Context, estTokens int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := l.Reserve(estTokens)
	if d <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok && deadline.Sub(l.now()) < d {
		l.unreserve(estTokens)
		return &PacedError{Wait: d}
	}
	if err := l.sleep(ctx, d); err != nil {
		l.unreserve(estTokens)
		return err
	}
	return nil
}

// Record implements Limiter.
func (l *RateLimiter) Record(_ context.Context, estTokens, actualTokens int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	_, tpm := l.refill(now)
	if tpm > 0 {
		l.tokLevel = min(l.tokLevel+min(float64(estTokens), tpm)-float64(actualTokens), tpm)
	}
	if actualTokens > 0 && l.factor < 1 {
		l.factor = min(1, l.factor+recoveryStep)
	}
	l.roll(now)
	l.curTok += float64(actualTokens)
}

// Throttled implements Limiter: the rate is halved (down to 1/16, at most
// once per throttleDebounce) until Cooldown passes without another throttle, and both buckets are emptied
// because Bedrock has just said this minute's quota is spent. With no limit
// configured, the rate observed over the last minute (or since the first
// call, if that was less than a minute ago) becomes the limit.
func (l *RateLimiter) Throttled(context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.refill(now)
	if l.factor == 1 {
		reqs, toks := l.observed(now)
		if l.rpm == 0 {
			l.learnedRPM = max(reqs, 1)
		}
		if l.tpm == 0 && toks > 0 {
			l.learnedTPM = toks
		}
	}
	if l.factor == 1 || now.Sub(l.halvedAt) >= throttleDebounce {
		l.factor = max(l.factor/2, minFactor)
		l.halvedAt = now
	}
	l.slowUntil = now.Add(l.cooldown)
	l.last = now
	l.reqLevel, l.tokLevel = min(l.reqLevel, 0), min(l.tokLevel, 0)
}

// roll moves the observation window forward to now.
func (l *RateLimiter) roll(now time.Time) {
	if l.ws.IsZero() {
		l.ws = now
	}
	if now.Sub(l.ws) < time.Minute {
		return
	}
	if now.Sub(l.ws) < 2*time.Minute {
		l.preReq, l.preTok, l.ws = l.curReq, l.curTok, l.ws.Add(time.Minute)
	} else {
		l.preReq, l.preTok, l.ws = 0, 0, now
	}
	l.curReq, l.curTok = 0, 0
}

// observed returns the requests and tokens per minute seen lately: a
// sliding-window count over the last minute, or, when nothing was seen
// before the current window, the count since it began scaled to a minute.
// Without that scaling a throttle in the first seconds after start would
// set the pace at the handful of calls made so far per minute.
func (l *RateLimiter) observed(now time.Time) (reqs, toks float64) {
	l.roll(now)
	if l.preReq == 0 && l.preTok == 0 {
		span := max(now.Sub(l.ws), time.Second)
		if span < time.Minute {
			scale := float64(time.Minute) / float64(span)
			return l.curReq * scale, l.curTok * scale
		}
		return l.curReq, l.curTok
	}
	w := max(0, 1-float64(now.Sub(l.ws))/float64(time.Minute))
	return l.curReq + l.preReq*w, l.curTok + l.preTok*w
}

// Rates reports the per-minute limits in force now (0 = none), for logs and
// the CLI.
func (l *RateLimiter) Rates() (requestsPerMinute, tokensPerMinute float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rates(l.now())
}

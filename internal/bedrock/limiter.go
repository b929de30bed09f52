package bedrock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

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

// LimiterState keeps a limiter's buckets where every limiter sharing a
// budget sees them: MemoryState for one process, a Redis register for a
// fleet. The limiter reads the state, computes, and writes it back only if
// nobody changed it in between, so the store needs no arithmetic of its
// own. Implementations must be safe for concurrent use.
type LimiterState interface {
	// Load returns the value stored under key, or nil when there is none
	// (never set, or expired).
	Load(ctx context.Context, key string) ([]byte, error)
	// CompareAndSwap stores value under key for ttl if key still holds old
	// (nil old: if key holds nothing) and reports whether it did.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
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
	State LimiterState
	// Now and Sleep replace the clock, for tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// RateLimiter paces calls under configured quotas with two token buckets,
// requests and tokens per minute. Each bucket holds at most one minute of
// quota and refills continuously; a reservation may drive a bucket negative,
// and the caller then waits until it is back at zero. A call bigger than a
// whole minute of token quota reserves one minute's worth, so it waits for
// full buckets instead of forever. With no quota configured every call goes
// at once.
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
// The arithmetic lives here only. Where the buckets live is the State's
// business: each operation reads them, computes at this process's clock and
// swaps them back only if they are unchanged, retrying a lost race. Workers'
// clocks differ by milliseconds; refilling a per-minute bucket by a few
// milliseconds too much or too little is a few thousandths of a request, and
// a clock behind the last writer refills nothing until it catches up, so
// skew never hands out quota twice.
type RateLimiter struct {
	rpm, tpm float64 // 0: no quota
	key      string
	state    LimiterState
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	// mu keeps this process's own callers from racing each other on the
	// state; races against other processes are settled by CompareAndSwap.
	mu sync.Mutex
}

var _ Limiter = (*RateLimiter)(nil)

// maxSwaps bounds how often one operation retries after another process
// changed the buckets between its read and its write.
const maxSwaps = 16

// NewLimiter returns a limiter. It does no I/O.
func NewLimiter(o LimiterOptions) *RateLimiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.State == nil {
		o.State = &MemoryState{m: map[string]memoryEntry{}, now: o.Now}
	}
	if o.Sleep == nil {
		o.Sleep = recall.Sleep
	}
	return &RateLimiter{
		rpm: float64(max(o.RequestsPerMinute, 0)), tpm: float64(max(o.TokensPerMinute, 0)),
		key: "limit:" + o.Model, state: o.State, now: o.Now, sleep: o.Sleep,
	}
}

// buckets is the shared state: both levels and when they were computed.
type buckets struct {
	req, tok float64
	at       time.Time
}

// full is the state of buckets nobody has touched: no key at all.
func (l *RateLimiter) full(now time.Time) buckets { return buckets{l.rpm, l.tpm, now} }

// refilled adds what the buckets earned since b.at, capped at one minute of
// quota. A clock behind b.at (another worker's, a little ahead) adds
// nothing and keeps b.at, so no interval is counted twice.
func (l *RateLimiter) refilled(b buckets, now time.Time) buckets {
	if el := now.Sub(b.at).Minutes(); el > 0 {
		b.req, b.tok, b.at = b.req+l.rpm*el, b.tok+l.tpm*el, now
	}
	b.req, b.tok = min(b.req, l.rpm), min(b.tok, l.tpm)
	return b
}

// wait is how long until both buckets are back at zero.
func (l *RateLimiter) wait(b buckets) time.Duration {
	return max(deficit(b.req, l.rpm), deficit(b.tok, l.tpm))
}

// deficit is how long a bucket at level takes to refill to zero at perMinute.
func deficit(level, perMinute float64) time.Duration {
	if level >= 0 || perMinute == 0 {
		return 0
	}
	return time.Duration(math.Ceil(-level / perMinute * float64(time.Minute)))
}

// ttl is how long the state must be kept: until both buckets are full
// again, when it is the same as no state at all.
func (l *RateLimiter) ttl(b buckets) time.Duration {
	var d float64
	if l.rpm > 0 {
		d = max(d, (l.rpm-b.req)/l.rpm)
	}
	if l.tpm > 0 {
		d = max(d, (l.tpm-b.tok)/l.tpm)
	}
	return max(time.Duration(math.Ceil(d*float64(time.Minute))), time.Millisecond)
}

// encode writes b as three numbers: request level, token level, and the
// time in Unix nanoseconds.
func encode(b buckets) []byte {
	return fmt.Appendf(nil, "%s %s %d", strconv.FormatFloat(b.req, 'g', -1, 64),
		strconv.FormatFloat(b.tok, 'g', -1, 64), b.at.UnixNano())
}

func decode(v []byte) (buckets, error) {
	f := strings.Fields(string(v))
	if len(f) != 3 {
		return buckets{}, fmt.Errorf("bedrock: limiter state %q: want 3 fields", v)
	}
	req, err1 := strconv.ParseFloat(f[0], 64)
	tok, err2 := strconv.ParseFloat(f[1], 64)
	at, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return buckets{}, fmt.Errorf("bedrock: limiter state %q: %w", v, err)
	}
	return buckets{req, tok, time.Unix(0, at)}, nil
}

// update applies change to the current buckets and stores the result,
// retrying when another process changed them first. change sees the
// buckets refilled to now and returns false to store nothing; update
// returns the buckets change produced and whether they were stored.
func (l *RateLimiter) update(ctx context.Context, change func(*buckets) bool) (buckets, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range maxSwaps {
		old, err := l.state.Load(ctx, l.key)
		if err != nil {
			return buckets{}, false, fmt.Errorf("bedrock: limiter %s: %w", l.key, err)
		}
		now := l.now()
		b := l.full(now)
		if old != nil {
			if b, err = decode(old); err != nil {
				b = l.full(now) // unreadable: start over rather than stop pacing
			}
		}
		b = l.refilled(b, now)
		if !change(&b) {
			return b, false, nil
		}
		ok, err := l.state.CompareAndSwap(ctx, l.key, old, encode(b), l.ttl(b))
		if err != nil {
			return buckets{}, false, fmt.Errorf("bedrock: limiter %s: %w", l.key, err)
		}
		if ok {
			return b, true, nil
		}
	}
	return buckets{}, false, &recall.Error{Code: recall.ETHROTTLED, RetryAfter: time.Second,
		Message: fmt.Sprintf("the shared Bedrock budget changed under %d tries in a row; trying again shortly", maxSwaps)}
}

// Reserve takes one request and estTokens tokens from the buckets and
// returns how long the caller must wait before calling (0: at once), the
// decision Wait acts on. When the wait would exceed maxWait (maxWait >= 0)
// it reserves nothing and reports ok=false.
func (l *RateLimiter) Reserve(ctx context.Context, estTokens int, maxWait time.Duration) (wait time.Duration, ok bool, err error) {
	if l.rpm == 0 && l.tpm == 0 {
		return 0, true, nil
	}
	b, ok, err := l.update(ctx, func(b *buckets) bool {
		if l.rpm > 0 {
			b.req--
		}
		b.tok -= min(float64(estTokens), l.tpm)
		return maxWait < 0 || l.wait(*b) <= maxWait
	})
	if err != nil {
		return 0, false, err
	}
	return l.wait(b), ok, nil
}

// unreserve gives back a reservation whose call was never made.
func (l *RateLimiter) unreserve(ctx context.Context, estTokens int) error {
	_, _, err := l.update(ctx, func(b *buckets) bool {
		b.req = min(b.req+1, l.rpm)
		b.tok = min(b.tok+min(float64(estTokens), l.tpm), l.tpm)
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
	l.update(ctx, func(b *buckets) bool {
		b.tok = min(b.tok+min(float64(estTokens), l.tpm)-float64(actualTokens), l.tpm)
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
	l.update(ctx, func(b *buckets) bool {
		b.req, b.tok = min(b.req, 0), min(b.tok, 0)
		return true
	})
}

// Levels reports what the buckets hold now (requests, tokens), for tests
// and the CLI.
func (l *RateLimiter) Levels(ctx context.Context) (requests, tokens float64, err error) {
	b, _, err := l.update(ctx, func(*buckets) bool { return false })
	return b.req, b.tok, err
}

// MemoryState is the in-process LimiterState: a map, its entries dropped
// once their ttl has passed.
type MemoryState struct {
	mu  sync.Mutex
	m   map[string]memoryEntry
	now func() time.Time
}

type memoryEntry struct {
	v       []byte
	expires time.Time
}

var _ LimiterState = (*MemoryState)(nil)

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { return &MemoryState{m: map[string]memoryEntry{}, now: time.Now} }

// Load implements LimiterState.
func (s *MemoryState) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(key), nil
}

// CompareAndSwap implements LimiterState.
func (s *MemoryState) CompareAndSwap(_ context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.getLocked(key)
	if (cur == nil) != (old == nil) || !bytes.Equal(cur, old) {
		return false, nil
	}
	s.m[key] = memoryEntry{bytes.Clone(value), s.now().Add(ttl)}
	return true, nil
}

func (s *MemoryState) getLocked(key string) []byte {
	e, ok := s.m[key]
	if !ok {
		return nil
	}
	if !s.now().Before(e.expires) {
		delete(s.m, key)
		return nil
	}
	return e.v
}

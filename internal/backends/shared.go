package backends

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"recall/internal/bedrock"
	"recall/internal/ratelimit"
	"recall/internal/redisq"
)

// What redisq provides to the Bedrock analyzer and the limiters, checked
// where they meet: neither package knows the other.
var (
	_ bedrock.Cache         = (*redisq.Cache)(nil)
	_ ratelimit.State       = (*redisq.State)(nil)
	_ bedrock.UsageRecorder = usageRecorder{}
)

// fallbackRetry is how long the limiters keep their buckets in-process
// after a Redis failure before they try Redis again.
const fallbackRetry = 5 * time.Second

// fallbackState keeps the limiters' buckets (Bedrock pacing, per-owner
// limits) in Redis, shared by every process, and in this process while
// Redis fails: after a Redis error it uses the in-process state for
// fallbackRetry before trying Redis again, logging a warning when it
// switches and a note when it is back. An outage of the shared state
// therefore never stops processing or refuses requests; while it lasts
// each process limits alone, so together they may exceed the quota until
// Bedrock throttles them (which empties each worker's buckets), and each
// owner may get a burst per process.
type fallbackState struct {
	what          string // whose state, for the log: "pacing" or "per-owner limits"
	shared, local ratelimit.State
	retry         time.Duration
	now           func() time.Time
	log           *slog.Logger

	mu        sync.Mutex
	down      bool
	downUntil time.Time
}

func newFallbackState(what string, shared ratelimit.State, log *slog.Logger) *fallbackState {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &fallbackState{what: what, shared: shared, local: ratelimit.NewMemoryState(), retry: fallbackRetry, now: time.Now, log: log}
}

// Load implements ratelimit.State.
func (f *fallbackState) Load(ctx context.Context, key string) ([]byte, error) {
	if f.onLocal() {
		return f.local.Load(ctx, key)
	}
	v, err := f.shared.Load(ctx, key)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		f.failed(ctx, err)
		return f.local.Load(ctx, key)
	}
	f.recovered(ctx)
	return v, nil
}

// CompareAndSwap implements ratelimit.State. A value read from one
// side and swapped on the other after a switch simply fails the swap, and
// the limiter reads again.
func (f *fallbackState) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if f.onLocal() {
		return f.local.CompareAndSwap(ctx, key, old, value, ttl)
	}
	ok, err := f.shared.CompareAndSwap(ctx, key, old, value, ttl)
	if err != nil {
		if ctx.Err() != nil {
			return false, err
		}
		f.failed(ctx, err)
		return f.local.CompareAndSwap(ctx, key, old, value, ttl)
	}
	f.recovered(ctx)
	return ok, nil
}

// onLocal reports whether calls go to the in-process state now.
func (f *fallbackState) onLocal() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down && f.now().Before(f.downUntil)
}

// failed switches to the in-process state for f.retry.
func (f *fallbackState) failed(ctx context.Context, err error) {
	f.mu.Lock()
	was := f.down
	f.down, f.downUntil = true, f.now().Add(f.retry)
	f.mu.Unlock()
	if !was {
		f.log.WarnContext(ctx, f.what+" state unreachable in Redis; limiting in-process until it answers",
			"retry_in", f.retry.String(), "error", err.Error())
	}
}

// recovered notes a Redis call that worked after a failure.
func (f *fallbackState) recovered(ctx context.Context) {
	f.mu.Lock()
	was := f.down
	f.down = false
	f.mu.Unlock()
	if was {
		f.log.InfoContext(ctx, f.what+" state back on Redis")
	}
}

// usageRecorder keeps the Bedrock analyzer's usage in Redis, summed over
// every worker, for `recall usage`. A failure is logged, never returned:
// losing a count must not fail an analysis.
type usageRecorder struct {
	usage *redisq.Usage
	log   *slog.Logger
}

// RecordUsage implements bedrock.UsageRecorder.
func (r usageRecorder) RecordUsage(ctx context.Context, d bedrock.ModelTotals) {
	err := r.usage.Add(ctx, redisq.ModelUsage{Model: d.Model, Calls: d.Calls, Failures: d.Failures,
		Analyses: d.Analyses, CacheHits: d.CacheHits, InputTokens: d.InputTokens, OutputTokens: d.OutputTokens})
	if err != nil {
		r.log.WarnContext(ctx, "usage not recorded", "model", d.Model, "error", err.Error())
	}
}

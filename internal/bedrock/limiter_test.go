package bedrock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/ratelimit"
	"recall/internal/recall"
	"recall/internal/testenv"
)

func limiter(c *testenv.Clock, rpm, tpm int) *RateLimiter {
	return NewLimiter(LimiterOptions{RequestsPerMinute: rpm, TokensPerMinute: tpm, Model: "m", Now: c.Now, Sleep: c.Sleep})
}

// step is one thing a bucket test does to a limiter, and what it expects.
type step struct {
	reserve  int           // reserve this many tokens (with a request) ...
	wait     time.Duration // ... and expect this wait
	advance  time.Duration // move the clock
	record   [2]int        // Record(est, actual) when non-zero
	throttle bool          // Throttled
	levels   *[2]float64   // expect these levels (requests, tokens)
}

func TestLimiterBuckets(t *testing.T) {
	t.Parallel()
	levels := func(r, tk float64) *[2]float64 { return &[2]float64{r, tk} }
	tests := []struct {
		name     string
		rpm, tpm int
		steps    []step
	}{
		{name: "requests per minute", rpm: 2, steps: []step{
			{reserve: 10, wait: 0}, {reserve: 10, wait: 0},
			{reserve: 10, wait: 30 * time.Second}, {reserve: 10, wait: time.Minute},
			{advance: time.Minute}, // refills two requests, both owed
			{levels: levels(0, 0)},
			{reserve: 10, wait: 30 * time.Second},
		}},
		{name: "tokens per minute, corrected by Record", tpm: 6000, steps: []step{
			{reserve: 6000, wait: 0},
			{reserve: 600, wait: 6 * time.Second}, // 600 more at 100 a second
			{record: [2]int{6000, 1000}}, {record: [2]int{600, 100}},
			{levels: levels(0, 5000-100)},
			{reserve: 4900, wait: 0},
			{record: [2]int{10, 500}}, // a call that cost more than estimated
			{levels: levels(0, -490)},
		}},
		{name: "a call over a minute's tokens reserves one minute's worth", tpm: 6000, steps: []step{
			{reserve: 10_000, wait: 0},
			{reserve: 10_000, wait: time.Minute},
			{levels: levels(0, -6000)},
		}},
		{name: "refill is continuous and capped at one minute", rpm: 60, tpm: 60_000, steps: []step{
			{reserve: 30_000, wait: 0},
			{levels: levels(59, 30_000)},
			{advance: 15 * time.Second},
			{levels: levels(60, 45_000)},
			{advance: time.Hour},
			{levels: levels(60, 60_000)},
		}},
		{name: "throttled empties the buckets", rpm: 60, tpm: 60_000, steps: []step{
			{reserve: 100, wait: 0},
			{throttle: true},
			{levels: levels(0, 0)},
			{reserve: 100, wait: time.Second}, // one request at 60 a minute
		}},
		{name: "throttled keeps a debt", rpm: 1, steps: []step{
			{reserve: 1, wait: 0}, {reserve: 1, wait: time.Minute},
			{throttle: true},
			{levels: levels(-1, 0)},
			{reserve: 1, wait: 2 * time.Minute},
		}},
		{name: "no quota: never waits, throttled does nothing", steps: []step{
			{reserve: 1_000_000, wait: 0}, {reserve: 1_000_000, wait: 0},
			{throttle: true}, {record: [2]int{1, 1_000_000}},
			{reserve: 1_000_000, wait: 0},
			{levels: levels(0, 0)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := testenv.NewClock()
			l := limiter(c, tc.rpm, tc.tpm)
			ctx := context.Background()
			for i, s := range tc.steps {
				switch {
				case s.reserve > 0:
					got, ok, err := l.Reserve(ctx, s.reserve, -1)
					if err != nil || !ok || got != s.wait {
						t.Fatalf("step %d: Reserve(%d) = %s, %v, %v; want %s", i, s.reserve, got, ok, err, s.wait)
					}
				case s.advance > 0:
					c.Advance(s.advance)
				case s.record != [2]int{}:
					l.Record(ctx, s.record[0], s.record[1])
				case s.throttle:
					l.Throttled(ctx)
				case s.levels != nil:
					r, tk, err := l.Levels(ctx)
					if err != nil || r != s.levels[0] || tk != s.levels[1] {
						t.Fatalf("step %d: levels %v, %v (%v); want %v", i, r, tk, err, *s.levels)
					}
				}
			}
		})
	}
}

func TestLimiterWaitHonoursTheDeadline(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := limiter(c, 1, 0)
	if err := l.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), c.Now().Add(10*time.Second))
	defer cancel()
	err := l.Wait(ctx, 1)
	var e *recall.Error
	if !errors.As(err, &e) || e.Code != recall.ETHROTTLED || e.RetryAfter != time.Minute {
		t.Fatalf("err = %#v, want ETHROTTLED with RetryAfter 1m", err)
	}
	if len(c.Sleeps()) != 0 {
		t.Errorf("slept %v before refusing", c.Sleeps())
	}
	// The refused reservation was not kept: the next wait is one request's.
	if err := l.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if len(c.Sleeps()) != 1 || c.Sleeps()[0] != time.Minute {
		t.Errorf("sleeps %v, want [1m]", c.Sleeps())
	}

	cancelled, stop := context.WithCancel(context.Background())
	stop()
	if err := l.Wait(cancelled, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestLimiterSleepCutShortGivesTheReservationBack: a wait abandoned because
// ctx ended leaves the buckets as they were before it.
func TestLimiterSleepCutShortGivesTheReservationBack(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	ctx, cancel := context.WithCancel(context.Background())
	l := NewLimiter(LimiterOptions{RequestsPerMinute: 1, TokensPerMinute: 1000, Now: c.Now,
		Sleep: func(context.Context, time.Duration) error { cancel(); return context.Canceled }})
	if _, _, err := l.Reserve(context.Background(), 1000, -1); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, 500); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if r, tk, _ := l.Levels(context.Background()); r != 0 || tk != 0 {
		t.Errorf("levels after the abandoned wait %v, %v; want 0, 0 (as before it)", r, tk)
	}
}

// TestLimitersShareAState: two limiters on one state (two workers) spend
// one budget.
func TestLimitersShareAState(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	state := ratelimit.NewMemoryState()
	o := LimiterOptions{RequestsPerMinute: 10, Model: "m", State: state, Now: c.Now, Sleep: c.Sleep}
	a, b := NewLimiter(o), NewLimiter(o)
	other := NewLimiter(LimiterOptions{RequestsPerMinute: 10, Model: "other model", State: state, Now: c.Now})
	ctx := context.Background()
	for i := range 10 {
		l := []*RateLimiter{a, b}[i%2]
		if d, _, err := l.Reserve(ctx, 1, -1); err != nil || d != 0 {
			t.Fatalf("reservation %d: %s, %v; want at once", i+1, d, err)
		}
	}
	if d, _, _ := a.Reserve(ctx, 1, -1); d != 6*time.Second {
		t.Errorf("11th reservation waits %s, want 6s: the budget is shared", d)
	}
	if d, _, _ := other.Reserve(ctx, 1, -1); d != 0 {
		t.Errorf("another model's first reservation waits %s, want 0: budgets are per model", d)
	}
}

// TestLimiterContention: many goroutines on one limiter get exactly the
// minute's quota without waiting, and not one reservation more.
func TestLimiterContention(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := limiter(c, 100, 0)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 1000 { // bounded, so a limiter that never refuses fails instead of hanging
				_, ok, err := l.Reserve(context.Background(), 1, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 100 {
		t.Errorf("%d reservations admitted without waiting, want the quota of 100", n)
	}
}

// TestLimiterClockSkew: a worker whose clock is behind the last writer's
// refills nothing for the interval the other already counted.
func TestLimiterClockSkew(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	behind := func() time.Time { return c.Now().Add(-50 * time.Millisecond) }
	state := ratelimit.NewMemoryState()
	a := NewLimiter(LimiterOptions{RequestsPerMinute: 60, Model: "m", State: state, Now: c.Now})
	b := NewLimiter(LimiterOptions{RequestsPerMinute: 60, Model: "m", State: state, Now: behind})
	ctx := context.Background()
	for range 60 {
		if _, _, err := a.Reserve(ctx, 1, -1); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(40 * time.Millisecond) // b's clock is still 10ms before a's write
	if r, _, _ := b.Levels(ctx); r != 0 {
		t.Errorf("the worker behind sees %v requests, want 0: nothing refilled twice", r)
	}
	c.Advance(time.Second + 10*time.Millisecond)
	if r, _, _ := b.Levels(ctx); math.Abs(r-1) > 1e-9 {
		t.Errorf("a second after the write by b's clock: %v requests, want 1", r)
	}
}

// TestLimiterUnreadableState: an unreadable state starts over with full
// buckets instead of stopping the pacing.
func TestLimiterUnreadableState(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	state := ratelimit.NewMemoryState()
	if ok, _ := state.CompareAndSwap(context.Background(), "limit:m", nil, []byte("garbage"), time.Minute); !ok {
		t.Fatal("CompareAndSwap on an empty state failed")
	}
	l := NewLimiter(LimiterOptions{RequestsPerMinute: 5, Model: "m", State: state, Now: c.Now})
	if d, ok, err := l.Reserve(context.Background(), 1, -1); err != nil || !ok || d != 0 {
		t.Errorf("Reserve over an unreadable state = %s, %v, %v; want at once", d, ok, err)
	}
}

// TestLimiterStateFormat: the buckets are stored as they always were,
// "requests tokens unix-nanoseconds" under limit:<model>, so workers of
// this version and the last share a budget during a deploy.
func TestLimiterStateFormat(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	state := ratelimit.NewMemoryStateAt(c.Now)
	l := NewLimiter(LimiterOptions{RequestsPerMinute: 60, TokensPerMinute: 1000, Model: "m", State: state, Now: c.Now})
	if _, _, err := l.Reserve(context.Background(), 250, -1); err != nil {
		t.Fatal(err)
	}
	v, _ := state.Load(context.Background(), "limit:m")
	if want := fmt.Sprintf("59 750 %d", c.Now().UnixNano()); string(v) != want {
		t.Errorf("state %q, want %q", v, want)
	}
}

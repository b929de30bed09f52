package bedrock

import (
	"context"
	"errors"
	"recall/internal/testenv"
	"testing"
	"time"
)

func limiter(c *testenv.Clock, rpm, tpm int) *RateLimiter {
	return NewLimiter(LimiterOptions{RequestsPerMinute: rpm, TokensPerMinute: tpm, Now: c.Now, Sleep: c.Sleep})
}

func TestLimiterRequestsPerMinute(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := limiter(c, 2, 0)
	for i, want := range []time.Duration{0, 0, 30 * time.Second, time.Minute} {
		if got := l.Reserve(10); got != want {
			t.Errorf("reservation %d: wait %s, want %s", i+1, got, want)
		}
	}
	c.Advance(time.Minute) // one minute refills two requests, both owed
	if got := l.Reserve(10); got != 30*time.Second {
		t.Errorf("after a minute: wait %s, want 30s", got)
	}
}

func TestLimiterTokensPerMinuteAndRecord(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := limiter(c, 0, 6000)
	if got := l.Reserve(6000); got != 0 {
		t.Fatalf("first: %s", got)
	}
	// 600 more tokens at 100 a second: 6s.
	if got := l.Reserve(600); got != 6*time.Second {
		t.Errorf("over quota: wait %s, want 6s", got)
	}
	// Both calls turned out cheaper: the difference comes back.
	l.Record(context.Background(), 6000, 1000)
	l.Record(context.Background(), 600, 100)
	if got := l.Reserve(4900); got != 0 { // 6000-6000-600+5000+500
		t.Errorf("after corrections: wait %s, want 0", got)
	}
	// A call bigger than a minute of quota waits for full buckets, not forever.
	c.Advance(10 * time.Minute)
	if got := l.Reserve(10_000); got != 0 {
		t.Errorf("oversized call on full bucket: %s", got)
	}
	if got := l.Reserve(10_000); got != time.Minute {
		t.Errorf("oversized call on empty bucket: %s, want 1m", got)
	}
}

func TestLimiterThrottledHalvesForACooldown(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := limiter(c, 60, 0)
	if got := l.Reserve(1); got != 0 {
		t.Fatal(got)
	}
	l.Throttled(context.Background())
	if rpm, _ := l.Rates(); rpm != 30 {
		t.Errorf("after a throttle: %v rpm, want 30", rpm)
	}
	// Buckets were emptied: the next call waits one request at 30/min.
	if got := l.Reserve(1); got != 2*time.Second {
		t.Errorf("wait %s, want 2s", got)
	}
	// A throttle right after the halving is a call admitted at the old
	// pace: it does not halve again.
	l.Throttled(context.Background())
	if rpm, _ := l.Rates(); rpm != 30 {
		t.Errorf("a second throttle within the debounce: %v rpm, want still 30", rpm)
	}
	c.Advance(5 * time.Second)
	l.Throttled(context.Background())
	if rpm, _ := l.Rates(); rpm != 15 {
		t.Errorf("after two throttles: %v rpm, want 15", rpm)
	}
	for range 10 {
		c.Advance(5 * time.Second)
		l.Throttled(context.Background())
	}
	if rpm, _ := l.Rates(); rpm != 60.0/16 {
		t.Errorf("floor: %v rpm, want %v", rpm, 60.0/16)
	}
	c.Advance(time.Minute)
	if rpm, _ := l.Rates(); rpm != 60 {
		t.Errorf("after the cooldown: %v rpm, want 60", rpm)
	}
}

func TestLimiterLearnsARateWhenUnlimited(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := limiter(c, 0, 0)
	for range 10 {
		if got := l.Reserve(100); got != 0 {
			t.Fatalf("unlimited limiter made a call wait %s", got)
		}
		l.Record(context.Background(), 100, 50)
		c.Advance(time.Second)
	}
	// 10 requests and 500 tokens in the 10s since the first call is a rate
	// of 60 requests and 3,000 tokens a minute; a throttle halves it.
	l.Throttled(context.Background())
	rpm, tpm := l.Rates()
	if rpm != 30 || tpm != 1500 {
		t.Errorf("learned %v rpm, %v tpm; want half the observed 60 and 3000 per minute", rpm, tpm)
	}
	if got := l.Reserve(10); got != 2*time.Second {
		t.Errorf("wait %s, want 2s (one request at 30/min)", got)
	}
	c.Advance(2 * time.Minute)
	if rpm, tpm := l.Rates(); rpm != 0 || tpm != 0 {
		t.Errorf("after the cooldown: %v, %v; want unlimited again", rpm, tpm)
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
	if !errors.Is(err, ErrPaced) {
		t.Fatalf("err = %v, want ErrPaced", err)
	}
	if len(c.Sleeps()) != 0 {
		t.Errorf("slept %v before refusing", c.Sleeps())
	}
	// The refused reservation was given back: the next wait is one request's.
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

func TestLimiterRecoversAsCallsSucceed(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := limiter(c, 64, 0)
	l.Throttled(context.Background())
	if rpm, _ := l.Rates(); rpm != 32 {
		t.Fatalf("after a throttle: %v rpm, want 32", rpm)
	}
	// Each answered call gives back a sixteenth of the full rate; refused
	// calls (no tokens) give back nothing.
	l.Record(context.Background(), 100, 0)
	if rpm, _ := l.Rates(); rpm != 32 {
		t.Errorf("after a refused call: %v rpm, want still 32", rpm)
	}
	for i := range 8 {
		l.Record(context.Background(), 100, 80)
		if rpm, _ := l.Rates(); rpm != 32+4*float64(i+1) {
			t.Fatalf("after %d answered calls: %v rpm, want %v", i+1, rpm, 32+4*float64(i+1))
		}
	}
	l.Record(context.Background(), 100, 80)
	if rpm, _ := l.Rates(); rpm != 64 {
		t.Errorf("recovery overshot: %v rpm, want the configured 64", rpm)
	}
}

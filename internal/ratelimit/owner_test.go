package ratelimit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/recall"
	"recall/internal/testenv"
)

// refused asserts err is ERATELIMITED with retry and a message holding
// every part.
func refused(t *testing.T, err error, retry time.Duration, parts ...string) {
	t.Helper()
	var e *recall.Error
	if recall.ErrorCode(err) != recall.ERATELIMITED || !errors.As(err, &e) {
		t.Fatalf("error %v, want %s", err, recall.ERATELIMITED)
	}
	if e.RetryAfter != retry {
		t.Errorf("RetryAfter %s, want %s", e.RetryAfter, retry)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			t.Errorf("message %q does not say %q", e.Message, p)
		}
	}
}

// TestOwnerRequests: each owner has a bucket of Burst requests refilled at
// RequestsPerSecond; over it, Admit refuses with the wait until one more
// fits and a message naming the limit.
func TestOwnerRequests(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	l := NewOwners(OwnerLimits{RequestsPerSecond: 2, Burst: 5, Now: c.Now})
	ctx := context.Background()
	for i := range 5 {
		if err := l.Admit(ctx, "alice"); err != nil {
			t.Fatalf("request %d of the burst: %v", i+1, err)
		}
	}
	refused(t, l.Admit(ctx, "alice"), 500*time.Millisecond, "2 conversations per second", "bursts of up to 5")
	if err := l.Admit(ctx, "bob"); err != nil {
		t.Errorf("bob is limited by alice's requests: %v", err)
	}
	c.Advance(500 * time.Millisecond)
	if err := l.Admit(ctx, "alice"); err != nil {
		t.Errorf("after 500ms: %v", err)
	}
	refused(t, l.Admit(ctx, "alice"), 500*time.Millisecond)
}

// TestOwnerTokensPerDay: once an owner's analyses have spent the day's
// tokens, Admit refuses until midnight UTC (without taking a request),
// and the next UTC day starts from zero.
func TestOwnerTokensPerDay(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	start := time.Date(2026, 12, 4, 21, 30, 0, 0, time.UTC)
	c.Advance(start.Sub(c.Now()))
	state := NewMemoryStateAt(c.Now)
	l := NewOwners(OwnerLimits{RequestsPerSecond: 1, Burst: 1, TokensPerDay: 1000, State: state, Now: c.Now})
	ctx := context.Background()
	for _, n := range []int{400, 599} {
		if err := l.Spend(ctx, "alice", n); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Admit(ctx, "alice"); err != nil {
		t.Fatalf("999 of 1000 spent: %v", err)
	}
	if err := l.Spend(ctx, "alice", 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour) // refills the request bucket: only the budget refuses now
	refused(t, l.Admit(ctx, "alice"), 90*time.Minute, "1000 of the 1000 tokens", "per day (UTC)", "midnight UTC", "1h30m")
	if err := l.Spend(ctx, "bob", 10); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit(ctx, "bob"); err != nil {
		t.Errorf("bob is refused for alice's tokens: %v", err)
	}
	c.Advance(90 * time.Minute) // midnight UTC
	if err := l.Admit(ctx, "alice"); err != nil {
		t.Errorf("on a new day: %v (a refusal by the budget must take no request either)", err)
	}
	if v, _ := state.Load(ctx, "owner-tokens:2026-12-04:alice"); v == nil {
		t.Error("yesterday's count expired at midnight; it is kept an hour longer for clocks behind")
	}
	c.Advance(time.Hour)
	if v, _ := state.Load(ctx, "owner-tokens:2026-12-04:alice"); v != nil {
		t.Errorf("yesterday's count %q still kept an hour after midnight", v)
	}
}

// TestOwnerSpendIsExact: concurrent spends from several limiters on one
// state (several workers) all count.
func TestOwnerSpendIsExact(t *testing.T) {
	t.Parallel()
	state := NewMemoryState()
	o := OwnerLimits{TokensPerDay: 1 << 30, State: state}
	limiters := []*Owners{NewOwners(o), NewOwners(o), NewOwners(o)}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			if err := limiters[i%3].Spend(context.Background(), "alice", 7); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	spent, _, err := limiters[0].spent(context.Background(), "alice", time.Now().UTC())
	if err != nil || spent != 210 {
		t.Errorf("spent %d (%v), want 30 × 7 = 210", spent, err)
	}
}

// TestOwnerLimitsOff: zero limits admit everything and count nothing.
func TestOwnerLimitsOff(t *testing.T) {
	t.Parallel()
	state := NewMemoryState()
	l := NewOwners(OwnerLimits{State: state})
	ctx := context.Background()
	for range 1000 {
		if err := l.Admit(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Spend(ctx, "alice", 1_000_000); err != nil {
		t.Fatal(err)
	}
	if len(state.m) != 0 {
		t.Errorf("state holds %d keys with every limit off", len(state.m))
	}
}

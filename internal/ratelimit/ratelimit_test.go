package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"recall/internal/testenv"
)

// TestReserveAdmitsOrRefuses: with maxWait 0 a reservation is the classic
// token bucket: Burst at once, then N per Per, and a refusal takes nothing
// and says how long until one more would fit.
func TestReserveAdmitsOrRefuses(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	b := New(nil, c.Now, Rate{N: 2, Per: time.Second, Burst: 3})
	ctx := context.Background()
	for i := range 3 {
		if d, ok, err := b.Reserve(ctx, "k", 0, 1); err != nil || !ok || d != 0 {
			t.Fatalf("request %d of the burst: %s, %v, %v", i+1, d, ok, err)
		}
	}
	for range 2 { // refused twice: nothing is taken, the wait stays the same
		if d, ok, err := b.Reserve(ctx, "k", 0, 1); err != nil || ok || d != 500*time.Millisecond {
			t.Fatalf("over the burst: %s, %v, %v; want refused, 500ms", d, ok, err)
		}
	}
	c.Advance(250 * time.Millisecond)
	if d, ok, _ := b.Reserve(ctx, "k", 0, 1); ok || d != 250*time.Millisecond {
		t.Fatalf("after 250ms: %s, %v; want refused, 250ms", d, ok)
	}
	c.Advance(250 * time.Millisecond)
	if _, ok, _ := b.Reserve(ctx, "k", 0, 1); !ok {
		t.Fatal("after 500ms one request fits")
	}
	if _, ok, _ := b.Reserve(ctx, "other", 0, 1); !ok {
		t.Fatal("another key has a bucket of its own")
	}
	c.Advance(time.Hour)
	if l, _, _ := b.Update(ctx, "k", func([]float64) bool { return false }); l[0] != 3 {
		t.Errorf("after an hour the bucket holds %v, want its burst of 3", l[0])
	}
}

// TestBucketsOfDifferentRates: each bucket refills at its own rate and
// the wait is the longest of them; a bucket without a rate never counts.
func TestBucketsOfDifferentRates(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	b := New(nil, c.Now,
		Rate{N: 60, Per: time.Minute, Burst: 60},
		Rate{N: 1000, Per: time.Second, Burst: 1000},
		Rate{})
	ctx := context.Background()
	if d, ok, err := b.Reserve(ctx, "k", -1, 60, 3000, 1e9); err != nil || !ok || d != 0 {
		t.Fatalf("first: %s, %v, %v; want at once (costs are capped at the burst)", d, ok, err)
	}
	// Now at 0 and 0 (the second capped at its burst of 1000).
	if d, _, _ := b.Reserve(ctx, "k", -1, 1, 2000); d != 1*time.Second {
		t.Errorf("second waits %s, want 1s (1 request at 1/s; 1000 tokens at 1000/s)", d)
	}
	l, _, _ := b.Update(ctx, "k", func([]float64) bool { return false })
	if l[0] != -1 || l[1] != -1000 || l[2] != 0 {
		t.Errorf("levels %v, want [-1 -1000 0]", l)
	}
	if !b.Limited() || New(nil, nil, Rate{}).Limited() {
		t.Error("Limited is wrong")
	}
}

// TestStateEncoding checks the encoding round-trips, refuses what it did
// not write, and that an unreadable state starts over with full buckets.
func TestStateEncoding(t *testing.T) {
	t.Parallel()
	l := Levels{L: []float64{-1.5, 12345.25}, At: time.Unix(0, 1_733_000_000_123_456_789)}
	got, err := decode(encode(l), 2)
	if err != nil || got.L[0] != l.L[0] || got.L[1] != l.L[1] || !got.At.Equal(l.At) {
		t.Errorf("decode(encode(%+v)) = %+v, %v", l, got, err)
	}
	for _, bad := range []string{"", "1 2", "a b c", "1 2 3 4"} {
		if _, err := decode([]byte(bad), 2); err == nil {
			t.Errorf("decode(%q) = nil error", bad)
		}
	}
	c := testenv.NewClock()
	state := NewMemoryStateAt(c.Now)
	state.CompareAndSwap(context.Background(), "k", nil, []byte("garbage"), time.Minute)
	b := New(state, c.Now, Rate{N: 1, Per: time.Second, Burst: 5})
	if _, ok, err := b.Reserve(context.Background(), "k", 0, 1); err != nil || !ok {
		t.Errorf("over an unreadable state: %v, %v; want admitted", ok, err)
	}
}

// TestStateExpiresWhenFull: the state is kept only until every bucket is
// full again, when it is the same as no state at all.
func TestStateExpiresWhenFull(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	state := NewMemoryStateAt(c.Now)
	b := New(state, c.Now, Rate{N: 10, Per: time.Second, Burst: 100})
	ctx := context.Background()
	b.Reserve(ctx, "k", -1, 100)
	c.Advance(10*time.Second - time.Millisecond)
	if v, _ := state.Load(ctx, "k"); v == nil {
		t.Fatal("state gone before the bucket refilled")
	}
	c.Advance(time.Millisecond)
	if v, _ := state.Load(ctx, "k"); v != nil {
		t.Errorf("state %q kept after the bucket is full", v)
	}
}

// TestClockSkew: a process whose clock is behind the last writer's
// refills nothing for the interval the other already counted.
func TestClockSkew(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	behind := func() time.Time { return c.Now().Add(-50 * time.Millisecond) }
	state := NewMemoryStateAt(c.Now)
	a := New(state, c.Now, Rate{N: 60, Per: time.Minute, Burst: 60})
	b := New(state, behind, Rate{N: 60, Per: time.Minute, Burst: 60})
	ctx := context.Background()
	a.Reserve(ctx, "k", -1, 60)
	c.Advance(40 * time.Millisecond)
	if l, _, _ := b.Update(ctx, "k", func([]float64) bool { return false }); l[0] != 0 {
		t.Errorf("the process behind sees %v, want 0: nothing refilled twice", l[0])
	}
	c.Advance(time.Second + 10*time.Millisecond)
	if l, _, _ := b.Update(ctx, "k", func([]float64) bool { return false }); math.Abs(l[0]-1) > 1e-9 {
		t.Errorf("a second after the write by b's clock: %v, want 1", l[0])
	}
}

// TestMemoryState pins the compare-and-swap contract every State keeps
// (redisq.State runs the same cases against Redis).
func TestMemoryState(t *testing.T) {
	t.Parallel()
	c := testenv.NewClock()
	s := NewMemoryStateAt(c.Now)
	ctx := context.Background()
	cas := func(old, v string, ttl time.Duration) bool {
		var o []byte
		if old != "" {
			o = []byte(old)
		}
		ok, err := s.CompareAndSwap(ctx, "k", o, []byte(v), ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if v, _ := s.Load(ctx, "k"); v != nil {
		t.Fatalf("Load on empty = %q", v)
	}
	if cas("x", "a", time.Minute) {
		t.Error("swap expecting x on an empty key succeeded")
	}
	if !cas("", "a", time.Minute) {
		t.Error("swap expecting nothing on an empty key failed")
	}
	if cas("", "b", time.Minute) {
		t.Error("swap expecting nothing on a set key succeeded")
	}
	if !cas("a", "b", time.Second) {
		t.Error("swap expecting the current value failed")
	}
	if v, _ := s.Load(ctx, "k"); string(v) != "b" {
		t.Errorf("Load = %q, want b", v)
	}
	c.Advance(time.Second)
	if v, _ := s.Load(ctx, "k"); v != nil {
		t.Errorf("Load after the ttl = %q, want nothing", v)
	}
}

// meetingState is a State whose Load returns only once two Loads have
// been under way at the same time (or, after a while, fails): a round trip
// to Redis that two callers must be able to wait out together.
type meetingState struct {
	State
	mu  sync.Mutex
	n   int
	met chan struct{}
}

func (s *meetingState) Load(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	if s.n++; s.n == 2 {
		close(s.met)
	}
	s.mu.Unlock()
	select {
	case <-s.met:
	case <-time.After(5 * time.Second):
		return nil, errors.New("no other Load came while this one waited")
	}
	return s.State.Load(ctx, key)
}

// TestKeysDoNotWaitForEachOther: callers on different keys (two owners)
// read the state at the same time instead of queueing behind one lock,
// so one owner's round trips do not hold up every other owner's requests.
func TestKeysDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	st := &meetingState{State: NewMemoryState(), met: make(chan struct{})}
	b := New(st, nil, Rate{N: 1, Per: time.Second, Burst: 1})
	keys := []string{"owner-a"}
	for i := 0; len(keys) < 2; i++ { // a key under another of the locks
		if k := fmt.Sprint("owner-", i); b.lockOf(k) != b.lockOf(keys[0]) {
			keys = append(keys, k)
		}
	}
	errs := make(chan error, len(keys))
	for _, k := range keys {
		go func() { _, _, err := b.Reserve(t.Context(), k, 0, 1); errs <- err }()
	}
	for range keys {
		if err := <-errs; err != nil {
			t.Fatalf("Reserve: %v", err)
		}
	}
}

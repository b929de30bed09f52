package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

func open(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	recalltest.Store(t, func(t *testing.T) recall.Store {
		return open(t, filepath.Join(t.TempDir(), "recall.db"))
	})
}

func TestRestartKeepsEverything(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data", "recall.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	base := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	future := time.Now().Add(time.Hour)
	var want []*recall.Conversation
	for i := range 5 {
		c := recalltest.NewConversation("alice", base.Add(time.Duration(i)*time.Second))
		if _, _, err := s.Create(ctx, c, &recall.Idempotency{Key: fmt.Sprint("k", i), Fingerprint: "fp", Expires: future}); err != nil {
			t.Fatalf("Create: %v", err)
		}
		want = append(want, c)
	}
	done, err := s.Transition(ctx, want[0].Ref(), recall.Transition{Event: recall.EventStart, At: base.Add(time.Minute)})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	done, err = s.Transition(ctx, done.Ref(), recall.Transition{Event: recall.EventDone, At: base.Add(2 * time.Minute),
		Analysis: &recall.Analysis{Summary: "s", ActionItems: []string{"a"}, Keywords: []string{"k"}, Model: "m"}})
	if err != nil {
		t.Fatalf("done: %v", err)
	}
	want[0] = done
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, path)
	items, more, err := s.List(ctx, "alice", "", 10)
	if err != nil || more || len(items) != len(want) {
		t.Fatalf("List after reopen = %d items, more %v, %v", len(items), more, err)
	}
	slices.Reverse(items)
	for i := range want {
		recalltest.EqualConversation(t, items[i], want[i])
	}
	// Idempotency keys survived: a replay returns the original.
	got, created, err := s.Create(ctx, recalltest.NewConversation("alice", base.Add(time.Hour)),
		&recall.Idempotency{Key: "k3", Fingerprint: "fp", Expires: future})
	if err != nil || created || got.ID != want[3].ID {
		t.Fatalf("replay after reopen = (created %v, %v)", created, err)
	}
	// The stuck index survived: every conversation but the done one.
	stuck, _, err := s.Stuck(ctx, base.Add(time.Hour), "", 10)
	if err != nil || len(stuck) != 4 || stuck[0].ID != want[1].ID {
		t.Fatalf("Stuck after reopen = %d items, %v", len(stuck), err)
	}
}

func TestOpenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recall.db")
	open(t, path)
	start := time.Now()
	s, err := boltstore.Open(path, boltstore.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, boltstore.ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("second Open took %s to fail", took)
	}
}

func TestIdempotencyKeysExpireAndAreCleaned(t *testing.T) {
	ctx := t.Context()
	var now atomic.Pointer[time.Time]
	set := func(t time.Time) { now.Store(&t) }
	set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{Now: func() time.Time { return *now.Load() }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	t0 := *now.Load()
	first := recalltest.NewConversation("alice", t0)
	idem := &recall.Idempotency{Key: "k", Fingerprint: "fp", Expires: t0.Add(time.Hour)}
	if _, created, err := s.Create(ctx, first, idem); err != nil || !created {
		t.Fatalf("Create = (%v, %v)", created, err)
	}
	set(t0.Add(59 * time.Minute))
	if got, created, err := s.Create(ctx, recalltest.NewConversation("alice", t0.Add(time.Second)), idem); err != nil || created || got.ID != first.ID {
		t.Fatalf("replay before expiry = (%v, %v)", created, err)
	}
	set(t0.Add(time.Hour))
	// Other writes clean the expired key out; a create with it is new.
	if _, created, err := s.Create(ctx, recalltest.NewConversation("bob", t0.Add(2*time.Second)), nil); err != nil || !created {
		t.Fatalf("Create = (%v, %v)", created, err)
	}
	second := recalltest.NewConversation("alice", t0.Add(3*time.Second))
	if got, created, err := s.Create(ctx, second, idem); err != nil || !created || got.ID != second.ID {
		t.Fatalf("create with an expired key = (%v, %v)", created, err)
	}
}

// BenchmarkCreateParallel measures creates from 32 concurrent clients with
// fsync on, the local runner's worst write load. It reports p50 and p99
// latency beside throughput.
func BenchmarkCreateParallel(b *testing.B) {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	var (
		n    atomic.Int64
		lats = make([]time.Duration, b.N+64*32)
	)
	// RunParallel starts parallelism × GOMAXPROCS goroutines: make that 32.
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((32 + procs - 1) / procs)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) - 1
			c := recalltest.NewConversation(fmt.Sprint("owner-", i%50), time.Now())
			t0 := time.Now()
			if _, _, err := s.Create(ctx, c, &recall.Idempotency{Key: fmt.Sprint("k", i), Fingerprint: "fp", Expires: t0.Add(time.Hour)}); err != nil {
				b.Error(err)
				return
			}
			lats[i] = time.Since(t0)
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lats = lats[:n.Load()]
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "creates/s")
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99_ms")
	}
}

// TestOpenReleasesHolds: a hold found when the file is opened belongs to a
// process that is gone (the file lock admits one at a time), so it is
// released and the conversation can be started again at once; nothing
// else about it changes.
func TestOpenReleasesHolds(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "recall.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	c := recalltest.NewConversation("alice", now)
	if _, _, err := s.Create(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	held, err := s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: now, LeaseUntil: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	got, err := s.Get(ctx, "alice", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *held
	want.LeaseUntil = time.Time{}
	recalltest.EqualConversation(t, got, &want)
	if _, err := s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: now.Add(time.Second), LeaseUntil: now.Add(time.Minute)}); err != nil {
		t.Fatalf("start after reopening: %v", err)
	}
}

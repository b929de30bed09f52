package memq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

func TestQueueSuite(t *testing.T) {
	t.Parallel()
	recalltest.Queue(t, func(t *testing.T, visibility time.Duration) recall.Queue {
		q := memq.New(memq.Options{Visibility: visibility})
		t.Cleanup(func() { q.Close() })
		return q
	})
}

// TestWeights pins the documented 6:3:1 policy with every lane full.
func TestWeights(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := memq.New(memq.Options{})
	defer q.Close()
	for i := range 100 {
		for _, p := range recall.Priorities {
			if err := q.Enqueue(ctx, recall.Job{ConversationID: string(p), Run: i + 1, Priority: p, Attempt: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	jobs, err := q.Receive(ctx, 30, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []recall.Priority
	for _, j := range jobs {
		got = append(got, j.Priority)
	}
	h, d, l := recall.PriorityHigh, recall.PriorityDefault, recall.PriorityLow
	round := []recall.Priority{h, h, h, h, h, h, d, d, d, l}
	want := append(append(append([]recall.Priority{}, round...), round...), round...)
	if len(got) != len(want) {
		t.Fatalf("got %d jobs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivery order = %v, want %v", got, want)
		}
	}
}

func TestCloseWakesReceivers(t *testing.T) {
	t.Parallel()
	q := memq.New(memq.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := q.Receive(context.Background(), 1, time.Minute)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	q.Close()
	select {
	case err := <-done:
		if !errors.Is(err, memq.ErrClosed) || recall.ErrorCode(err) != recall.EUNAVAILABLE {
			t.Errorf("Receive after Close = %v, want ErrClosed (%s)", err, recall.EUNAVAILABLE)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a blocked Receive")
	}
	if err := q.Enqueue(context.Background(), recall.Job{ConversationID: "x", Run: 1, Priority: recall.PriorityHigh}); !errors.Is(err, memq.ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	if err := q.Ping(context.Background()); err == nil {
		t.Error("Ping after Close = nil, want an error")
	}
	q.Close() // twice is fine
}

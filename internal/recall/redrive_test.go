package recall_test

import (
	"context"
	"testing"

	"recall/internal/recall"
)

// TestRedrive: a redriven dead letter whose run failed starts a new run,
// queued before the letter goes; one whose conversation has moved on is
// only removed; ids choose letters.
func TestRedrive(t *testing.T) {
	t.Parallel()
	refused := recall.Errorf(recall.EPERMISSION, "model access is not enabled")
	h := newHarness(t, refused, refused, refused)
	ctx := context.Background()
	a, b, c := h.create(t), h.create(t), h.create(t)
	if got := h.run(t); len(got) != 3 {
		t.Fatalf("outcomes %v, want three failures", got)
	}
	// b is reprocessed by its owner meanwhile: its letter is stale.
	if _, err := h.svc.Reprocess(ctx, "alice", b.ID); err != nil {
		t.Fatal(err)
	}
	letters, err := h.queue.DeadLetters(ctx, 0)
	if err != nil || len(letters) != 3 {
		t.Fatalf("dead letters %v, %v", letters, err)
	}
	byConv := map[string]string{}
	for _, d := range letters {
		byConv[d.Job.ConversationID] = d.ID
	}
	rep, err := h.svc.Redrive(ctx, h.queue, []string{byConv[a.ID], byConv[b.ID]})
	if err != nil || rep != (recall.RedriveReport{Restarted: 1, Removed: 2}) {
		t.Fatalf("Redrive(a, b) = %+v, %v; want 1 restarted, 2 removed", rep, err)
	}
	if got := h.get(t, a.ID); got.Status != recall.StatusPending || got.Run != 2 || got.Attempts != 0 {
		t.Fatalf("a after the redrive: %s, run %d, %d attempts", got.Status, got.Run, got.Attempts)
	}
	if got := h.get(t, c.ID); got.Status != recall.StatusFailed || got.Run != 1 {
		t.Fatalf("c was not named but is %s on run %d", got.Status, got.Run)
	}
	if left, _ := h.queue.DeadLetters(ctx, 0); len(left) != 1 || left[0].ID != byConv[c.ID] {
		t.Fatalf("letters left: %v, want c's", left)
	}
	h.run(t)
	for _, id := range []string{a.ID, b.ID} {
		if got := h.get(t, id); got.Status != recall.StatusDone || got.Run != 2 {
			t.Fatalf("%s: %s on run %d, want done on run 2", id, got.Status, got.Run)
		}
	}
}

package recalltest

import (
	"slices"
	"testing"
	"time"

	"recall/internal/recall"
)

// storeDelete checks Store.Delete: the conversation and everything that
// could bring it back (its idempotency key, its stuck entry) are gone, a
// worker's late write finds nothing to update, and nothing else is touched.
func storeDelete(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	future := time.Now().Add(time.Hour)
	keyA := &recall.Idempotency{Key: "key-a", Fingerprint: "fp-a", Expires: future}
	keyB := &recall.Idempotency{Key: "key-b", Fingerprint: "fp-b", Expires: future}
	a, created, err := s.Create(ctx, NewConversation("alice", storeBase), keyA)
	if err != nil || !created {
		t.Fatalf("Create a = (created %v, %v)", created, err)
	}
	b, created, err := s.Create(ctx, NewConversation("alice", storeBase.Add(time.Second)), keyB)
	if err != nil || !created {
		t.Fatalf("Create b = (created %v, %v)", created, err)
	}
	started := mustTransitConv(t, s, a, recall.Transition{Event: recall.EventStart, At: storeAt(time.Minute), LeaseUntil: storeAt(2 * time.Minute)})
	bobs := mustCreateConv(t, s, NewConversation("bob", storeBase.Add(2*time.Second)))

	// Someone else's conversation is not found, and stays.
	_, err = s.Delete(ctx, "bob", a.ID)
	WantCode(t, err, recall.ENOTFOUND)
	EqualConversation(t, mustGetConv(t, s, "alice", a.ID), started)

	gone, err := s.Delete(ctx, "alice", a.ID)
	if err != nil {
		t.Fatalf("Delete(a): %v", err)
	}
	EqualConversation(t, gone, started)
	_, err = s.Get(ctx, "alice", a.ID)
	WantCode(t, err, recall.ENOTFOUND)
	_, err = s.Delete(ctx, "alice", a.ID)
	WantCode(t, err, recall.ENOTFOUND)
	items, _, err := s.List(ctx, "alice", "", 10)
	if err != nil || len(items) != 1 || items[0].ID != b.ID {
		t.Fatalf("List after the delete = %v, %v; want only b", idsOf(items), err)
	}

	// The attempt that was running ends without writing anything back:
	// every transition answers not found and creates nothing.
	for _, tr := range []recall.Transition{
		{Event: recall.EventDone, At: storeAt(90 * time.Second), Analysis: storeAnalysis("late")},
		{Event: recall.EventRetry, At: storeAt(90 * time.Second), Reason: "late"},
		{Event: recall.EventFail, At: storeAt(90 * time.Second), Reason: "late"},
		{Event: recall.EventStart, At: storeAt(3 * time.Minute)},
		{Event: recall.EventTouch, At: storeAt(3 * time.Minute)},
		{Event: recall.EventReprocess, At: storeAt(3 * time.Minute)},
	} {
		_, err := s.Transition(ctx, started.Ref(), tr)
		WantCode(t, err, recall.ENOTFOUND)
	}
	_, err = s.Get(ctx, "alice", a.ID)
	WantCode(t, err, recall.ENOTFOUND)

	// It left the stuck index with it; b and bob's are still there.
	storeWantStuck(t, storeStuckAll(t, s, storeAt(time.Hour), 10), b, bobs)

	// Its key is forgotten: a retry of the create with it makes a new
	// conversation instead of replaying the deleted one, even with another
	// body. b's key still replays b.
	again := NewConversation("alice", storeBase.Add(3*time.Second))
	got, created, err := s.Create(ctx, again, &recall.Idempotency{Key: "key-a", Fingerprint: "fp-other", Expires: future})
	if err != nil || !created || got.ID != again.ID {
		t.Fatalf("Create with the deleted conversation's key = (%v, created %v, %v); want a new conversation", got, created, err)
	}
	got, created, err = s.Create(ctx, NewConversation("alice", storeBase.Add(4*time.Second)), keyB)
	if err != nil || created || got.ID != b.ID {
		t.Fatalf("replay of b's key = (%v, created %v, %v); want b", got, created, err)
	}
	storeDeleteScan(t, s, a.ID)
}

// storeDeleteScan checks a Scanner does not return a deleted conversation.
func storeDeleteScan(t *testing.T, s recall.Store, deleted string) {
	sc, ok := s.(recall.Scanner)
	if !ok {
		return
	}
	var seen []string
	cursor := ""
	for range 100 {
		page, err := sc.Scan(storeCtx(t), recall.ScanFilter{}, cursor, 10)
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		for _, c := range page.Items {
			seen = append(seen, c.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if slices.Contains(seen, deleted) {
		t.Fatalf("Scan returns the deleted conversation %s", deleted)
	}
}

// storeDeleteDone checks that deleting a finished conversation leaves it
// gone for a reprocess, and that each conversation is deleted alone.
func storeDeleteDone(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	c := mustCreateConv(t, s, NewConversation("alice", storeBase))
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: storeAt(time.Second)})
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventDone, At: storeAt(2 * time.Second), Analysis: storeAnalysis("d")})
	other := mustCreateConv(t, s, NewConversation("alice", storeBase.Add(time.Second)))
	gone, err := s.Delete(ctx, "alice", c.ID)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	EqualConversation(t, gone, c)
	_, err = s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventReprocess, At: storeAt(3 * time.Second)})
	WantCode(t, err, recall.ENOTFOUND)
	EqualConversation(t, mustGetConv(t, s, "alice", other.ID), other)
	if _, err := s.Delete(ctx, "alice", recall.NewID(storeBase)); recall.ErrorCode(err) != recall.ENOTFOUND {
		t.Fatalf("Delete of an ID never used: %v, want ENOTFOUND", err)
	}
}

func idsOf(cs []*recall.Conversation) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"recall/internal/boltstore"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

// TestDeleteFindsKeysFromBeforeTheKeyIndex: a file written before Delete
// existed has idempotency keys but no way from a conversation to its key;
// Open builds it, so deleting such a conversation forgets its key too.
func TestDeleteFindsKeysFromBeforeTheKeyIndex(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "recall.db")
	key := &recall.Idempotency{Key: "old-key", Fingerprint: "fp", Expires: time.Now().Add(time.Hour)}
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.Create(ctx, recalltest.NewConversation("alice", time.Now()), key)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Make the file look like one from before: no idem_by_conv bucket.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("idem_by_conv")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = open(t, path)
	if _, err := s.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	again := recalltest.NewConversation("alice", time.Now())
	got, created, err := s.Create(ctx, again, &recall.Idempotency{Key: "old-key", Fingerprint: "other", Expires: time.Now().Add(time.Hour)})
	if err != nil || !created || got.ID != again.ID {
		t.Fatalf("Create with the deleted conversation's key = (created %v, %v); want a new conversation", created, err)
	}
}

package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"recall/internal/recall"
)

// Delete implements recall.Store: one transaction removes the record, the
// idempotency key it was created with (found through idem_by_conv, and
// only if the key still names it: an expired key may have been taken by a
// later create), its stuck entry and its action items' rows.
func (s *Store) Delete(ctx context.Context, owner, id string) (*recall.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: delete %s: %w", id, err)
	}
	convKey := append(ownerKey(owner), id...)
	var (
		gone *recall.Conversation
		derr error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		gone, derr = nil, nil
		convs := tx.Bucket(bucketConversations)
		c, err := getConv(convs, convKey)
		if err != nil {
			return err
		}
		if c == nil {
			derr = recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", id)
			return nil
		}
		if c.Status.InProgress() {
			if err := tx.Bucket(bucketStuck).Delete(stuckKey(c.UpdatedAt, c.ID)); err != nil {
				return err
			}
		}
		if err := deleteIdemKeyOf(tx, convKey, id); err != nil {
			return err
		}
		if err := removeItemRows(tx, c); err != nil {
			return err
		}
		if err := convs.Delete(convKey); err != nil {
			return err
		}
		gone = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: delete %s: %w", id, err)
	}
	if derr != nil {
		return nil, derr
	}
	return gone, nil
}

// deleteIdemKeyOf deletes the idempotency key conversation convKey (whose
// ID is id) was created with, if it still names it, and the way to it.
func deleteIdemKeyOf(tx *bolt.Tx, convKey []byte, id string) error {
	byConv := tx.Bucket(bucketIdemByConv)
	idemKey := bytes.Clone(byConv.Get(convKey))
	if idemKey == nil {
		return nil
	}
	rec, err := getIdem(tx, idemKey)
	if err != nil {
		return err
	}
	if rec != nil && rec.ID == id {
		if err := tx.Bucket(bucketIdemExpiry).Delete(expiryKey(rec.Expires, idemKey)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIdempotency).Delete(idemKey); err != nil {
			return err
		}
	}
	return byConv.Delete(convKey)
}

// forgetIdemKey deletes the way from a conversation to idemKey, which is
// about to be deleted, if it leads there.
func forgetIdemKey(tx *bolt.Tx, idemKey []byte) error {
	rec, err := getIdem(tx, idemKey)
	if err != nil || rec == nil {
		return err
	}
	prefix, ok := ownerPrefix(idemKey)
	if !ok {
		return nil
	}
	convKey := append(bytes.Clone(prefix), rec.ID...)
	byConv := tx.Bucket(bucketIdemByConv)
	if bytes.Equal(byConv.Get(convKey), idemKey) {
		return byConv.Delete(convKey)
	}
	return nil
}

// indexIdemKeys creates idem_by_conv, filling it from the idempotency keys
// of a file written before it existed, so Delete finds every live key.
// It does nothing once the bucket exists.
func indexIdemKeys(tx *bolt.Tx) error {
	if tx.Bucket(bucketIdemByConv) != nil {
		return nil
	}
	byConv, err := tx.CreateBucket(bucketIdemByConv)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketIdempotency).ForEach(func(k, v []byte) error {
		rec, err := decodeIdem(v)
		if err != nil {
			return err
		}
		prefix, ok := ownerPrefix(k)
		if !ok {
			return nil
		}
		return byConv.Put(append(bytes.Clone(prefix), rec.ID...), bytes.Clone(k))
	})
}

// ownerPrefix is the ownerKey at the start of k.
func ownerPrefix(k []byte) ([]byte, bool) {
	n, size := binary.Uvarint(k)
	if size <= 0 || uint64(len(k)-size) < n {
		return nil, false
	}
	return k[:size+int(n)], true
}

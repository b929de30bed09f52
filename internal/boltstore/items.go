package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"recall/internal/recall"
)

// Action items are kept twice over besides their conversation's record,
// in the order the listing answers in (recall.ListedItem.SortKey):
//
//	items     ownerKey(owner) + sortKey                    → JSON recall.ListedItem
//	items_by  ownerKey(owner) + ownerKey(person) + sortKey → nothing
//
// person is the item owner's recall.PersonKey, so a listing filtered by
// owner is one range scan too. Both are written in the transaction that
// changes the record's items, from the items before and after it, so they
// are never out of step with it.
var (
	bucketItems   = []byte("items")
	bucketItemsBy = []byte("items_by")
)

// ListItems implements recall.ItemStore: a range scan per range of the
// query, of items or, filtered by owner, of items_by.
func (s *Store) ListItems(ctx context.Context, owner string, q recall.ItemQuery) ([]recall.ListedItem, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("boltstore: list items: %w", err)
	}
	if err := q.Validate(); err != nil {
		return nil, false, err
	}
	var (
		items []recall.ListedItem
		more  bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		rows := tx.Bucket(bucketItems)
		rowPrefix := ownerKey(owner)
		prefix, scan, key := rowPrefix, rows.Cursor(), func(k []byte) []byte { return k }
		if q.Owner != "" {
			// The index's keys end in the sort key: the row is under
			// rowPrefix + that.
			prefix = append(bytes.Clone(rowPrefix), ownerKey(q.Owner)...)
			scan = tx.Bucket(bucketItemsBy).Cursor()
			key = func(k []byte) []byte { return append(bytes.Clone(rowPrefix), k[len(prefix):]...) }
		}
		for _, r := range q.Ranges() {
			lo, hi := append(bytes.Clone(prefix), r.Lo...), append(bytes.Clone(prefix), r.Hi...)
			for k, _ := scan.Seek(lo); k != nil && bytes.Compare(k, hi) < 0; k, _ = scan.Next() {
				if q.After != "" && string(k[len(prefix):]) == q.After {
					continue
				}
				if len(items) == q.Limit {
					more = true
					return nil
				}
				raw := rows.Get(key(k))
				if raw == nil {
					return fmt.Errorf("items_by names a missing row %x", k)
				}
				var it recall.ListedItem
				if err := json.Unmarshal(raw, &it); err != nil {
					return fmt.Errorf("decode item row: %w", err)
				}
				items = append(items, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: list items: %w", err)
	}
	return items, more, nil
}

// SetItemDone implements recall.ItemStore: the record and the item's rows
// in one transaction.
func (s *Store) SetItemDone(ctx context.Context, owner, convID, itemID string, done bool, at time.Time) (recall.ActionItem, error) {
	if err := ctx.Err(); err != nil {
		return recall.ActionItem{}, fmt.Errorf("boltstore: set item %s/%s: %w", convID, itemID, err)
	}
	convKey := append(ownerKey(owner), convID...)
	var (
		item recall.ActionItem
		derr error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		item, derr = recall.ActionItem{}, nil
		convs := tx.Bucket(bucketConversations)
		c, err := getConv(convs, convKey)
		if err != nil {
			return err
		}
		if c == nil {
			derr = recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", convID)
			return nil
		}
		before := recall.ListedItems(c)
		it, changed, err := c.SetItemDone(itemID, done, at)
		if err != nil || !changed {
			item, derr = it, err
			return nil
		}
		val, err := encode(c.InUTC())
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if err := convs.Put(convKey, val); err != nil {
			return err
		}
		item = it
		return replaceItemRows(tx, owner, before, recall.ListedItems(c))
	})
	if err != nil {
		return recall.ActionItem{}, fmt.Errorf("boltstore: set item %s/%s: %w", convID, itemID, err)
	}
	return item, derr
}

// removeItemRows deletes c's items from the listing, inside tx.
func removeItemRows(tx *bolt.Tx, c *recall.Conversation) error {
	return replaceItemRows(tx, c.Owner, recall.ListedItems(c), nil)
}

// replaceItemRows makes the rows of one conversation's items, which were
// before, be after: rows whose key or content changed are rewritten, rows
// of items gone are deleted, and the rest are left alone.
func replaceItemRows(tx *bolt.Tx, owner string, before, after []recall.ListedItem) error {
	rows, by := tx.Bucket(bucketItems), tx.Bucket(bucketItemsBy)
	prefix := ownerKey(owner)
	type row struct {
		key, byKey, val []byte
	}
	encode := func(it recall.ListedItem) (row, error) {
		sk := it.SortKey()
		val, err := json.Marshal(it)
		if err != nil {
			return row{}, fmt.Errorf("encode item row: %w", err)
		}
		r := row{key: append(bytes.Clone(prefix), sk...), val: val}
		if p := recall.ItemPersonKey(it.ActionItem); p != "" {
			r.byKey = append(append(bytes.Clone(prefix), ownerKey(p)...), sk...)
		}
		return r, nil
	}
	old := map[string]row{}
	for _, it := range before {
		r, err := encode(it)
		if err != nil {
			return err
		}
		old[string(r.key)] = r
	}
	for _, it := range after {
		r, err := encode(it)
		if err != nil {
			return err
		}
		prev, had := old[string(r.key)]
		delete(old, string(r.key))
		if had && bytes.Equal(prev.val, r.val) && bytes.Equal(prev.byKey, r.byKey) {
			continue
		}
		if had && prev.byKey != nil && !bytes.Equal(prev.byKey, r.byKey) {
			if err := by.Delete(prev.byKey); err != nil {
				return err
			}
		}
		if err := rows.Put(r.key, r.val); err != nil {
			return err
		}
		if r.byKey != nil {
			if err := by.Put(r.byKey, nil); err != nil {
				return err
			}
		}
	}
	for _, r := range old {
		if err := rows.Delete(r.key); err != nil {
			return err
		}
		if r.byKey != nil {
			if err := by.Delete(r.byKey); err != nil {
				return err
			}
		}
	}
	return nil
}

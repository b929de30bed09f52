package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

// Delete implements recall.Store without a transaction (which costs twice
// the write units and the test emulators lack):
//
//  1. GetItem the conversation (consistent) for the idempotency key it
//     records (idem_key), so the key is found without a Scan, and for its
//     action items and the item rows it lists as possibly stale;
//  2. DeleteItem the key, only while it still names this conversation (an
//     expired key may have been taken by a later create);
//  3. delete its item rows (deleteRows);
//  4. DeleteItem the conversation, only if it exists and its rows cannot
//     have changed since 3, returning it; if they may have, go back to 1.
//
// Key first, so a failure between the two leaves the conversation in
// place, still listed and still deletable, and no key that names a missing
// conversation: such a key is what a create retried with it would complete
// under the key's ID (see createWithKey), bringing the deleted conversation
// back. A retried delete finishes the job. The stuck index is a GSI of the
// item, so it goes with it.
func (s *Store) Delete(ctx context.Context, owner, id string) (*recall.Conversation, error) {
	key := s.key(ownerPK(owner), convSK(id))
	for range 5 {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("dynamo: delete %s: read: %w", id, err)
		}
		if out.Item == nil {
			return nil, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", id)
		}
		c, st, err := decodeRecord(out.Item)
		if err != nil {
			return nil, fmt.Errorf("dynamo: delete %s: %w", id, err)
		}
		d := decoder{item: out.Item}
		if idemKey := d.str(attrIdemKey); idemKey != "" {
			if err := s.deleteKeyOf(ctx, owner, id, idemKey); err != nil {
				return nil, err
			}
		}
		cond, err := s.deleteRows(ctx, c, st)
		if recall.ErrorCode(err) == recall.ECONFLICT {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("dynamo: delete %s: %w", id, err)
		}
		gone, err := s.deleteRecord(ctx, key, cond)
		if recall.ErrorCode(err) == recall.ECONFLICT {
			continue // gone already (the next read says so) or changed
		} else if err != nil {
			return nil, fmt.Errorf("dynamo: delete %s: %w", id, err)
		}
		return gone, nil
	}
	return nil, recall.Errorf(recall.ECONFLICT, "conversation %s is changing under concurrent updates; retry", id)
}

// deleteRows deletes the item rows of c (whose record is in state st):
// its items' rows and those listed as possibly stale, which are all the
// rows any writer may have written (see items.go). It returns the
// condition under which deleting the record leaves no row behind.
//
// When the sync lock is free, it first takes it, so nobody else writes
// rows until the record is gone (a writer that changes the items meanwhile
// leaves the rows to the holder), and marks the record, so that should
// this process die before the record goes, the sweeper puts the rows back
// for the conversation that is still there. The record's delete is then
// conditioned on still holding the lock. When someone else holds it, their
// sync finds the record gone at its last step and deletes what it wrote;
// the delete is conditioned on the items being as read.
func (s *Store) deleteRows(ctx context.Context, c *recall.Conversation, st itemState) (*update, error) {
	cond := newUpdate()
	cond.conds = append(cond.conds, "attribute_exists("+cond.name(AttrPK)+")")
	keys := rowKeys(c)
	for _, k := range st.rows {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 && !st.lockedAt(s.now()) {
		cond.verIs(st.ver)
		return cond, nil
	}
	if holder := s.lockFor(st); holder != "" {
		u := newUpdate()
		u.conds = append(u.conds, "attribute_exists("+u.name(AttrPK)+")")
		u.verIs(st.ver)
		u.lock(st, holder, s.now())
		if !c.Status.InProgress() {
			u.mark(c.ID, s.now())
		}
		if err := s.updateRecord(ctx, c, u); err != nil {
			return nil, err
		}
		cond.conds = append(cond.conds, cond.name(attrSyncLock)+" = "+cond.value(str(holder)))
	} else {
		cond.verIs(st.ver)
	}
	if err := s.batchWrite(ctx, c.Owner, nil, keys); err != nil {
		return nil, fmt.Errorf("item rows: %w", err)
	}
	return cond, nil
}

// deleteRecord deletes the record at key under cond's condition and
// returns it as it was; ECONFLICT when the condition fails.
func (s *Store) deleteRecord(ctx context.Context, key map[string]types.AttributeValue, cond *update) (*recall.Conversation, error) {
	in := &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      key,
		ConditionExpression:      aws.String(strings.Join(cond.conds, " AND ")),
		ExpressionAttributeNames: cond.names,
		ReturnValues:             types.ReturnValueAllOld,
	}
	if len(cond.values) > 0 {
		in.ExpressionAttributeValues = cond.values
	}
	del, err := s.client.DeleteItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil, recall.Errorf(recall.ECONFLICT, "conversation changed while it was deleted")
	}
	if err != nil {
		return nil, err
	}
	return decodeConversation(del.Attributes)
}

// deleteKeyOf deletes owner's idempotency key idemKey if it names
// conversation id; a key that is gone or names another is left alone.
func (s *Store) deleteKeyOf(ctx context.Context, owner, id, idemKey string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       s.key(ownerPK(owner), idemSK(idemKey)),
		ConditionExpression:       aws.String("#cid = :id"),
		ExpressionAttributeNames:  map[string]string{"#cid": attrConvID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(id)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("dynamo: delete %s: idempotency key: %w", id, err)
	}
	return nil
}

package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

var _ recall.ItemRepairer = (*Store)(nil)

func newLockName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// syncRounds bounds how often a holder goes back to step 2 because the
// items changed while it wrote; after that the mark (or, during a run, the
// run's end) has the rows finished later.
const syncRounds = 10

// syncHeld does steps 2 and 3 of the order in items.go for c, whose record
// is in state st with the sync lock held by st.lock (this process).
func (s *Store) syncHeld(ctx context.Context, c *recall.Conversation, st itemState) error {
	written := map[string]bool{}
	for range syncRounds {
		want := itemRows(c)
		var dels []string
		for _, k := range st.rows {
			if _, ok := want[k]; !ok {
				dels = append(dels, k)
			}
		}
		if err := s.batchWrite(ctx, c.Owner, slices.Collect(maps.Values(want)), dels); err != nil {
			s.unlock(ctx, c, st.lock)
			return fmt.Errorf("dynamo: write item rows of %s: %w", c.ID, err)
		}
		for k := range want {
			written[k] = true
		}
		err := s.updateRecord(ctx, c, clearRows(st))
		if err == nil || recall.ErrorCode(err) != recall.ECONFLICT {
			return err
		}
		// The items changed while the rows were written, or the record
		// went (a delete), or the lock ran out: read it again.
		holder := st.lock
		next, nst, err := s.getRecord(ctx, c.Owner, c.ID)
		switch {
		case err != nil:
			return fmt.Errorf("dynamo: read %s after its items changed: %w", c.ID, err)
		case next == nil:
			// Deleted: remove every row this holder may have written.
			return s.batchWrite(ctx, c.Owner, nil, slices.Collect(maps.Keys(written)))
		case nst.lock != holder:
			return nil // the lock ran out and is someone else's now
		}
		c, st = next, nst
	}
	return fmt.Errorf("dynamo: the items of %s kept changing while their rows were written", c.ID)
}

// unlock gives the sync lock back after a failed write, so a retry of the
// request (or the next sweep) can sync at once rather than after the lock
// runs out. The mark stays. Failing to is harmless: the lock runs out.
func (s *Store) unlock(ctx context.Context, c *recall.Conversation, holder string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	u := newUpdate()
	u.conds = append(u.conds, u.name(attrSyncLock)+" = "+u.value(str(holder)))
	u.remove = append(u.remove, u.name(attrSyncLock), u.name(attrSyncUntil))
	if err := s.updateRecord(ctx, c, u); err != nil && recall.ErrorCode(err) != recall.ECONFLICT {
		s.log.WarnContext(ctx, "could not give back the item rows' lock; it runs out by itself", "conversation_id", c.ID, "error", err.Error())
	}
}

// clearRows is step 3 for a record in state st: item_rows, the mark (if
// it is one) and the lock go, if the items are still at version st.ver
// and the lock is still st.lock's.
func clearRows(st itemState) *update {
	u := newUpdate()
	u.conds = append(u.conds, "attribute_exists("+u.name(AttrPK)+")", u.name(attrSyncLock)+" = "+u.value(str(st.lock)))
	u.verIs(st.ver)
	u.remove = append(u.remove, u.name(attrItemRows), u.name(attrSyncLock), u.name(attrSyncUntil))
	if st.marked {
		// A reprocess may have made the stuck keys a run's since: then
		// they stay, and the condition sends the holder to read again.
		pk := u.name(AttrStuckPK)
		u.conds = append(u.conds, "begins_with("+pk+", "+u.value(str(syncPrefix))+")")
		u.remove = append(u.remove, pk, u.name(AttrStuckSK))
	}
	return u
}

// syncIfFree takes the sync lock of c's record (state st) if nobody holds
// it and brings the rows in step; a holder does it otherwise.
func (s *Store) syncIfFree(ctx context.Context, c *recall.Conversation, st itemState) error {
	holder := s.lockFor(st)
	if holder == "" {
		return nil
	}
	u := newUpdate()
	u.lock(st, holder, s.now())
	switch err := s.updateRecord(ctx, c, u); recall.ErrorCode(err) {
	case "":
	case recall.ECONFLICT:
		return nil // someone took it first
	default:
		return fmt.Errorf("dynamo: lock the item rows of %s: %w", c.ID, err)
	}
	st.lock = holder
	return s.syncHeld(ctx, c, st)
}

// batchWrite puts rows and deletes the rows with keys dels, in one
// partition, through writeBatches.
func (s *Store) batchWrite(ctx context.Context, owner string, puts []map[string]types.AttributeValue, dels []string) error {
	reqs := make([]types.WriteRequest, 0, len(puts)+len(dels))
	for _, row := range puts {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: row}})
	}
	for _, k := range dels {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: s.key(ownerPK(owner), k)}})
	}
	return s.writeBatches(ctx, reqs, recall.Sleep)
}

// RepairItems implements recall.ItemRepairer: it finishes the syncs whose
// mark was made before before (a crash between the writes), with a Query
// of each SYNC shard of the stuck index and, per conversation found whose
// lock is free or has run out, one sync.
func (s *Store) RepairItems(ctx context.Context, before time.Time, limit int) (int, error) {
	n := 0
	for shard := range StuckShards {
		if n >= limit {
			break
		}
		out, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			IndexName:                aws.String(StuckIndex),
			KeyConditionExpression:   aws.String("#pk = :pk AND #sk < :end"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrStuckPK, "#sk": AttrStuckSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(fmt.Sprint(syncPrefix, shard)), ":end": str(sortTime(before)),
			},
			Limit: aws.Int32(int32(limit - n)),
		})
		if err != nil {
			return n, fmt.Errorf("dynamo: find item rows to repair: %w", err)
		}
		for _, it := range out.Items {
			d := decoder{item: it}
			c, st, err := s.getRecord(ctx, d.str(attrOwner), d.str(attrID))
			if err != nil {
				return n, fmt.Errorf("dynamo: repair item rows: %w", err)
			}
			if c == nil || !st.marked || st.lockedAt(s.now()) {
				continue // finished, deleted, or being written now
			}
			if err := s.syncIfFree(ctx, c, st); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// finish applies a done or fail transition, for which the item rows may
// have to change (see items.go). It first assumes the record has no items
// and no stale rows (a conversation's first analysis), which needs no
// read: the condition says so. If that fails, it reads the record, lets
// Conversation.Apply say whether the transition is allowed, and writes the
// new items (CarryDone of the old, for done) conditioned on the version it
// read, taking the sync lock if it is free. Then, holding the lock, it
// brings the rows in step; a failure there is logged, not returned: the
// result is stored, and the mark has the sweeper finish.
func (s *Store) finish(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	var (
		old *recall.Conversation
		st  itemState
	)
	for range 5 {
		u, err := transitionUpdate(ref, t, false)
		if err != nil {
			return nil, err
		}
		holder := s.finishItems(u, ref, t, old, st)
		in := &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: s.key(ownerPK(ref.Owner), convSK(ref.ID)),
			UpdateExpression: aws.String(u.expression()), ConditionExpression: aws.String(strings.Join(u.conds, " AND ")),
			ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}
		out, err := s.client.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			if old, st, err = s.refused(ctx, ccf.Item, ref, t); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dynamo: %s %s: %w", t.Event, ref.ID, err)
		}
		c, err := decodeConversation(out.Attributes)
		if err != nil {
			return nil, fmt.Errorf("dynamo: %s %s: %w", t.Event, ref.ID, err)
		}
		if nst, err := decodeItemState(out.Attributes); err == nil && holder != "" && nst.lock == holder {
			if err := s.syncHeld(ctx, c, nst); err != nil {
				s.log.WarnContext(ctx, "item rows not in step yet; the sweeper will finish them", "conversation_id", c.ID, "error", err.Error())
			}
		}
		return c, nil
	}
	return nil, recall.Errorf(recall.ECONFLICT, "conversation %s is changing under concurrent updates; retry", ref.ID)
}

// finishItems adds the item part of a done or fail transition to u and
// returns the holder of the sync lock it takes ("" for none): with no
// record read (old nil), the condition that there are no items and no
// stale rows and, for done, the analysis's items; with the record old in
// state st, the version condition and, for done, CarryDone's items; a fail
// changes no item and only marks a record whose rows may be behind.
func (s *Store) finishItems(u *update, ref recall.Ref, t recall.Transition, old *recall.Conversation, st itemState) string {
	done := t.Event == recall.EventDone
	if old == nil {
		u.conds = append(u.conds, "attribute_not_exists("+u.name(attrItems)+")", "attribute_not_exists("+u.name(attrItemRows)+")")
		if !done || len(t.Analysis.Items) == 0 {
			return ""
		}
		u.setValue(attrItems, encodeItems(t.Analysis.Items))
		v := u.name(attrItemsVer)
		u.set = append(u.set, v+" = if_not_exists("+v+", "+u.value(num(0))+") + "+u.value(num(1)))
		u.mark(ref.ID, t.At)
		// With no items and no stale rows, no sync can be running.
		holder := newLockName()
		u.setValue(attrSyncLock, str(holder))
		u.setValue(attrSyncUntil, num(s.now().Add(syncLease).UnixNano()))
		return holder
	}
	if done {
		next := *old
		next.Items = recall.CarryDone(old.Items, t.Analysis.Items)
		u.writeItems(&next, rowKeys(old), st, t.At)
	} else {
		u.verIs(st.ver)
		if len(old.Items) == 0 && len(st.rows) == 0 {
			return ""
		}
		u.mark(ref.ID, t.At)
	}
	holder := s.lockFor(st)
	if holder != "" {
		u.lock(st, holder, s.now())
	}
	return holder
}

// refused explains a refused transition from the record as it was (given
// by DynamoDB with the refusal, or read): ENOTFOUND, Apply's refusal, or,
// when Apply allows it, the record and its item state to try again with.
func (s *Store) refused(ctx context.Context, item map[string]types.AttributeValue, ref recall.Ref, t recall.Transition) (*recall.Conversation, itemState, error) {
	var (
		c   *recall.Conversation
		st  itemState
		err error
	)
	switch {
	case item == nil:
		if c, st, err = s.getRecord(ctx, ref.Owner, ref.ID); err != nil {
			return nil, itemState{}, fmt.Errorf("dynamo: %s %s: read after refusal: %w", t.Event, ref.ID, err)
		}
	case len(item) > 0:
		if c, st, err = decodeRecord(item); err != nil {
			return nil, itemState{}, fmt.Errorf("dynamo: %s %s: %w", t.Event, ref.ID, err)
		}
	}
	if c == nil {
		return nil, itemState{}, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", ref.ID)
	}
	probe := *c
	if err := probe.Apply(ref.Run, t); err != nil {
		return nil, itemState{}, err
	}
	return c, st, nil
}

package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

// Action items.
//
// A conversation's items live in its record (attribute items, with
// items_ver counting every change to them). For the listing across
// conversations each item is also an item row under the owner's partition,
// keyed in listing order (recall.ListedItem.SortKey), so every listing is
// one Query on keys, read consistently:
//
//	item row            OWNER#<owner>  ITEM#<sortkey>
//	item row, by owner  OWNER#<owner>  ITEMBY#<len>:<person>#<sortkey>  (only when the item names an owner)
//
// A row's key changes when its item is ticked off or its due date moves,
// and DynamoDB (and dynalite, which the tests run against) has no
// transaction across the record and its rows. So the record is the truth
// and the rows follow it. The invariant: every row that exists is one of
// the record's items' rows or is listed in the record's item_rows (row keys
// that may be stale). A change is written in this order:
//
//  1. One conditional UpdateItem of the record (the done transition, the
//     fail transition when rows may be behind, a tick) writes the new
//     items and version, adds the rows of the old items to item_rows,
//     unless a run is in progress sets a repair mark (stuck_pk =
//     SYNC#<shard>, in the sparse stuck index the sweeper already reads;
//     Stuck reads only STUCK#), and takes the sync lock (sync_lock, held
//     until sync_until) if nobody holds it.
//  2. Only the lock's holder writes rows: it writes the items' rows and
//     deletes the stale ones (item_rows minus those) in BatchWriteItem
//     requests,
//  3. then, in one conditional UpdateItem, removes item_rows, the mark and
//     the lock, if items_ver is still the one it wrote rows for. If not, a
//     change came in while it wrote (its writer found the lock held and
//     left the rows to the holder): it reads the record and goes back
//     to 2.
//
// So rows are written by one process at a time, from the newest record it
// has read, and never behind a newer writer's back. A crash after 1 leaves
// the mark and a lock that runs out: the sweeper's RepairItems takes the
// lock and redoes 2 and 3. A tick while a reprocess runs sets no mark; the
// run's own done or fail transition, which finds items or item_rows on
// the record, redoes them. Until a sync finishes, a listing may show an
// item's previous state (after a crash, until the next sweep once the
// lock has run out); the conversation itself is always read from the
// record. As with run holds, a holder stalled past its lock's time could
// write beside the next holder; the lock is far longer than a sync takes.

// Item row key prefixes.
const (
	itemPrefix   = "ITEM#"
	itemByPrefix = "ITEMBY#"
	syncPrefix   = "SYNC#"
)

// Item attributes: on the record, and on item rows.
const (
	attrItems      = "items"     // the record's items: a list of maps
	attrItemsVer   = "items_ver" // counts changes to items
	attrItemRows   = "item_rows" // string set: row keys that may be stale
	attrConvTitle  = "conversation_title"
	attrPosition   = "position"
	attrItemID     = "item_id"
	attrItemText   = "text"
	attrItemOwner  = "item_owner"
	attrItemDue    = "due"
	attrItemDone   = "done"
	attrItemDoneAt = "done_at"
	attrSyncLock   = "sync_lock"  // who may write the rows now
	attrSyncUntil  = "sync_until" // until when (Unix nanoseconds)
	// syncLease is how long a sync lock holds: far longer than writing a
	// conversation's rows takes, short enough that the sweeper finishes a
	// crashed sync soon after.
	syncLease = 30 * time.Second
)

func itemSK(sortKey string) string { return itemPrefix + sortKey }

func itemBySK(person, sortKey string) string {
	return itemByPrefix + strconv.Itoa(len(person)) + ":" + person + "#" + sortKey
}

// syncShard is the stuck index partition a conversation's repair mark goes
// in: spread like the stuck shards, so a burst of done transitions does not
// all write one index partition.
func syncShard(id string) string { return syncPrefix + strings.TrimPrefix(stuckShard(id), stuckPrefix) }

// encodeItem is one item as the record holds it.
func encodeItem(it recall.ActionItem) types.AttributeValue {
	m := map[string]types.AttributeValue{
		"id": str(it.ID), "text": str(it.Text), "done": &types.AttributeValueMemberBOOL{Value: it.Done},
	}
	if it.Owner != nil {
		m["owner"] = str(*it.Owner)
	}
	if it.Due != nil {
		m["due"] = str(it.Due.String())
	}
	if it.DoneAt != nil {
		m["done_at"] = str(formatTime(*it.DoneAt))
	}
	return &types.AttributeValueMemberM{Value: m}
}

func encodeItems(items []recall.ActionItem) types.AttributeValue {
	l := make([]types.AttributeValue, len(items))
	for i, it := range items {
		l[i] = encodeItem(it)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// decodeItem reads an item from its attributes, as the record holds it
// (inside a map) or as a row does (names given by n).
func decodeItem(d *decoder, n itemNames) recall.ActionItem {
	it := recall.ActionItem{ID: d.str(n.id), Text: d.str(n.text)}
	if v, ok := d.item[n.owner]; ok && v != nil {
		o := d.str(n.owner)
		it.Owner = &o
	}
	if s := d.str(n.due); s != "" {
		due, err := recall.ParseDate(s)
		if err != nil {
			d.fail(n.due, err)
		}
		it.Due = &due
	}
	switch v := d.item[n.done].(type) {
	case nil:
	case *types.AttributeValueMemberBOOL:
		it.Done = v.Value
	default:
		d.fail(n.done, fmt.Errorf("want a boolean, have %T", v))
	}
	if t := d.time(n.doneAt); !t.IsZero() {
		it.DoneAt = &t
	}
	return it
}

type itemNames struct{ id, text, owner, due, done, doneAt string }

var (
	recordItemNames = itemNames{"id", "text", "owner", "due", "done", "done_at"}
	rowItemNames    = itemNames{attrItemID, attrItemText, attrItemOwner, attrItemDue, attrItemDone, attrItemDoneAt}
)

func (d *decoder) items(name string) []recall.ActionItem {
	v, ok := d.item[name].(*types.AttributeValueMemberL)
	if !ok {
		if d.item[name] != nil {
			d.fail(name, fmt.Errorf("want a list, have %T", d.item[name]))
		}
		return nil
	}
	out := make([]recall.ActionItem, 0, len(v.Value))
	for _, e := range v.Value {
		m, ok := e.(*types.AttributeValueMemberM)
		if !ok {
			d.fail(name, fmt.Errorf("want a list of maps, have a %T in it", e))
			return nil
		}
		sub := decoder{item: m.Value}
		out = append(out, decodeItem(&sub, recordItemNames))
		if sub.err != nil {
			d.fail(name, sub.err)
		}
	}
	return out
}

func (d *decoder) strSet(name string) []string {
	switch v := d.item[name].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberSS:
		return v.Value
	default:
		d.fail(name, fmt.Errorf("want a string set, have %T", v))
		return nil
	}
}

// itemState is what the record says about its item rows besides the items.
type itemState struct {
	ver       int
	rows      []string  // item_rows: row keys that may be stale
	marked    bool      // the repair mark is set
	lock      string    // the sync lock's holder, if any
	lockUntil time.Time // and until when it holds
}

// lockedAt reports whether someone holds the sync lock at now.
func (st itemState) lockedAt(now time.Time) bool {
	return st.lock != "" && st.lockUntil.After(now)
}

func decodeItemState(item map[string]types.AttributeValue) (itemState, error) {
	d := decoder{item: item}
	st := itemState{ver: d.int(attrItemsVer), rows: d.strSet(attrItemRows), lock: d.str(attrSyncLock), lockUntil: d.nanos(attrSyncUntil)}
	st.marked = strings.HasPrefix(d.str(AttrStuckPK), syncPrefix)
	return st, d.err
}

// itemRows are the rows c's items are listed by, by key.
func itemRows(c *recall.Conversation) map[string]map[string]types.AttributeValue {
	out := map[string]map[string]types.AttributeValue{}
	for _, li := range recall.ListedItems(c) {
		sk := li.SortKey()
		row := map[string]types.AttributeValue{
			AttrPK: str(ownerPK(c.Owner)), AttrSK: str(itemSK(sk)),
			attrConvID: str(li.ConversationID), attrCreatedAt: str(formatTime(li.CreatedAt)),
			attrPosition: num(int64(li.Position)), attrItemID: str(li.ID), attrItemText: str(li.Text),
			attrItemDone: &types.AttributeValueMemberBOOL{Value: li.Done},
		}
		if li.ConversationTitle != "" {
			row[attrConvTitle] = str(li.ConversationTitle)
		}
		if li.Owner != nil {
			row[attrItemOwner] = str(*li.Owner)
		}
		if li.Due != nil {
			row[attrItemDue] = str(li.Due.String())
		}
		if li.DoneAt != nil {
			row[attrItemDoneAt] = str(formatTime(*li.DoneAt))
		}
		out[itemSK(sk)] = row
		if p := recall.ItemPersonKey(li.ActionItem); p != "" {
			by := make(map[string]types.AttributeValue, len(row))
			for k, v := range row {
				by[k] = v
			}
			by[AttrSK] = str(itemBySK(p, sk))
			out[itemBySK(p, sk)] = by
		}
	}
	return out
}

func decodeRow(item map[string]types.AttributeValue) (recall.ListedItem, error) {
	d := decoder{item: item}
	li := recall.ListedItem{
		ActionItem:        decodeItem(&d, rowItemNames),
		ConversationID:    d.str(attrConvID),
		ConversationTitle: d.str(attrConvTitle),
		CreatedAt:         d.time(attrCreatedAt),
		Position:          d.int(attrPosition),
	}
	return li, d.err
}

// ListItems implements recall.ItemStore: one consistent Query per range of
// the query (two at most), on the item rows or, filtered by owner, on that
// person's rows.
func (s *Store) ListItems(ctx context.Context, owner string, q recall.ItemQuery) ([]recall.ListedItem, bool, error) {
	if err := q.Validate(); err != nil {
		return nil, false, err
	}
	prefix := itemPrefix
	if q.Owner != "" {
		prefix = itemBySK(q.Owner, "")
	}
	var items []recall.ListedItem
	for _, r := range q.Ranges() {
		in := &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			ConsistentRead:           aws.Bool(true),
			KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(ownerPK(owner)), ":lo": str(prefix + r.Lo), ":hi": str(prefix + r.Hi),
			},
		}
		for {
			// One more than the page tells whether more exist; one more
			// again covers the row at After.
			in.Limit = aws.Int32(int32(q.Limit + 2 - len(items)))
			out, err := s.client.Query(ctx, in)
			if err != nil {
				return nil, false, fmt.Errorf("dynamo: list items: %w", err)
			}
			for _, row := range out.Items {
				sk := (&decoder{item: row}).str(AttrSK)
				if sk == prefix+q.After || sk == prefix+r.Hi {
					continue
				}
				if len(items) == q.Limit {
					return items, true, nil
				}
				li, err := decodeRow(row)
				if err != nil {
					return nil, false, fmt.Errorf("dynamo: list items: %w", err)
				}
				items = append(items, li)
			}
			if out.LastEvaluatedKey == nil {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	return items, false, nil
}

// getRecord reads a conversation's record consistently; nil when missing.
func (s *Store) getRecord(ctx context.Context, owner, id string) (*recall.Conversation, itemState, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: s.key(ownerPK(owner), convSK(id)), ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		return nil, itemState{}, err
	}
	return decodeRecord(out.Item)
}

// decodeRecord reads a conversation's record: the conversation and what
// it says about its item rows.
func decodeRecord(item map[string]types.AttributeValue) (*recall.Conversation, itemState, error) {
	c, err := decodeConversation(item)
	if err != nil {
		return nil, itemState{}, err
	}
	st, err := decodeItemState(item)
	return c, st, err
}

// SetItemDone implements recall.ItemStore: read the record, change the item
// (Conversation.SetItemDone), write the record back if its items have not
// changed meanwhile (taking the sync lock if it is free), then, holding the
// lock, bring the rows in step (see the order above).
func (s *Store) SetItemDone(ctx context.Context, owner, convID, itemID string, done bool, at time.Time) (recall.ActionItem, error) {
	for range 5 {
		c, st, err := s.getRecord(ctx, owner, convID)
		if err != nil {
			return recall.ActionItem{}, fmt.Errorf("dynamo: set item %s/%s: %w", convID, itemID, err)
		}
		if c == nil {
			return recall.ActionItem{}, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", convID)
		}
		oldKeys := rowKeys(c)
		it, changed, err := c.SetItemDone(itemID, done, at)
		if err != nil {
			return recall.ActionItem{}, err
		}
		if !changed {
			// A retry of a tick whose rows were not written: finish it.
			if st.marked || len(st.rows) > 0 {
				err = s.syncIfFree(ctx, c, st)
			}
			return it, err
		}
		u := newUpdate()
		u.conds = append(u.conds, "attribute_exists("+u.name(AttrPK)+")", u.name(attrStatus)+" = "+u.value(str(string(c.Status))))
		var markAt time.Time
		if !c.Status.InProgress() {
			markAt = at
		}
		next := u.writeItems(c, oldKeys, st, markAt)
		lock := s.lockFor(st)
		if lock != "" {
			u.lock(st, lock, s.now())
			next.lock = lock
		}
		if err := s.updateRecord(ctx, c, u); recall.ErrorCode(err) == recall.ECONFLICT {
			continue // changed meanwhile: read it again
		} else if err != nil {
			return recall.ActionItem{}, fmt.Errorf("dynamo: set item %s/%s: %w", convID, itemID, err)
		}
		if lock == "" {
			return it, nil // the lock's holder writes the rows
		}
		return it, s.syncHeld(ctx, c, next)
	}
	return recall.ActionItem{}, recall.Errorf(recall.ECONFLICT, "conversation %s is changing under concurrent updates; retry", convID)
}

func newUpdate() *update {
	return &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// updateRecord runs u on c's record; ECONFLICT when u's condition fails.
func (s *Store) updateRecord(ctx context.Context, c *recall.Conversation, u *update) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: s.key(ownerPK(c.Owner), convSK(c.ID)),
		UpdateExpression: aws.String(u.expression()), ConditionExpression: aws.String(strings.Join(u.conds, " AND ")),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return recall.Errorf(recall.ECONFLICT, "conversation %s changed", c.ID)
	}
	return err
}

// lockFor returns a fresh holder name when the sync lock of a record in
// state st is free (or has run out), and "" when someone holds it.
func (s *Store) lockFor(st itemState) string {
	if st.lockedAt(s.now()) {
		return ""
	}
	return newLockName()
}

// lock conditions u on the sync lock being as seen (held by st.lock, run
// out or free) and takes it for holder until now + syncLease.
func (u *update) lock(st itemState, holder string, now time.Time) {
	l := u.name(attrSyncLock)
	if st.lock == "" {
		u.conds = append(u.conds, "attribute_not_exists("+l+")")
	} else {
		u.conds = append(u.conds, l+" = "+u.value(str(st.lock)))
	}
	u.setValue(attrSyncLock, str(holder))
	u.setValue(attrSyncUntil, num(now.Add(syncLease).UnixNano()))
}

// rowKeys are the keys of c's item rows.
func rowKeys(c *recall.Conversation) []string {
	keys := make([]string, 0, 2*len(c.Items))
	for sk := range itemRows(c) {
		keys = append(keys, sk)
	}
	slices.Sort(keys)
	return keys
}

// writeItems adds to u step 1 of the order above for c, whose items have
// just changed from ones whose rows were oldKeys (the record at version
// st.ver): the new items and version, the old rows as possibly stale, the
// repair mark, made at markAt, unless markAt is zero, and the sync lock
// for holder, unless holder is "". It conditions u on the version (and the
// lock) and returns the state u writes.
func (u *update) writeItems(c *recall.Conversation, oldKeys []string, st itemState, markAt time.Time) itemState {
	u.verIs(st.ver)
	if len(c.Items) == 0 {
		u.remove = append(u.remove, u.name(attrItems))
	} else {
		u.setValue(attrItems, encodeItems(c.Items))
	}
	next := itemState{ver: st.ver + 1, rows: slices.Clone(st.rows)}
	u.setValue(attrItemsVer, num(int64(next.ver)))
	for _, k := range oldKeys {
		if !slices.Contains(next.rows, k) {
			next.rows = append(next.rows, k)
		}
	}
	slices.Sort(next.rows)
	if len(next.rows) > 0 {
		u.setValue(attrItemRows, &types.AttributeValueMemberSS{Value: next.rows})
	}
	if !markAt.IsZero() && (len(next.rows) > 0 || len(c.Items) > 0) {
		u.mark(c.ID, markAt)
		next.marked = true
	}
	return next
}

// verIs conditions u on the record's items being at version ver.
func (u *update) verIs(ver int) {
	if ver == 0 {
		u.conds = append(u.conds, "attribute_not_exists("+u.name(attrItemsVer)+")")
		return
	}
	u.conds = append(u.conds, u.name(attrItemsVer)+" = "+u.value(num(int64(ver))))
}

// mark sets the repair mark on conversation id's record, made at at,
// replacing whatever u did to the stuck index keys (a finished run
// removes them).
func (u *update) mark(id string, at time.Time) {
	pk, sk := u.name(AttrStuckPK), u.name(AttrStuckSK)
	u.remove = slices.DeleteFunc(u.remove, func(n string) bool { return n == pk || n == sk })
	u.set = slices.DeleteFunc(u.set, func(e string) bool { return strings.HasPrefix(e, pk+" ") || strings.HasPrefix(e, sk+" ") })
	u.setValue(AttrStuckPK, str(syncShard(id)))
	u.setValue(AttrStuckSK, str(stuckSK(at, id)))
}

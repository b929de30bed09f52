// Package dynamo is Recall's Store on Amazon DynamoDB: one table, every
// access pattern a single request where it can be.
//
// Table design (TableDefinition is the source of truth):
//
//	item              pk               sk          other keys
//	conversation      OWNER#<owner>    CONV#<id>   stuck_pk, stuck_sk while pending/processing
//	idempotency key   OWNER#<owner>    IDEM#<key>  expires_at (TTL)
//	action item row   OWNER#<owner>    ITEM#…, ITEMBY#…  (items.go: the listing across conversations)
//	keyword item      KW#<owner>       <term>#<id>, DOC#<id>  (keywords.go: search on AWS)
//
//	Create     PutItem (attribute_not_exists); with a key, a conditional
//	           PutItem of the key first, then the conversation
//	Get        GetItem (consistent)
//	List       Query pk, sk between CONV# and CONV#<after>, newest first
//	Transition UpdateItem with Conversation.Apply's rules as a condition,
//	           ReturnValues ALL_NEW
//	Stuck      Query the sparse "stuck" index, one query per shard, merged
//
// Idempotency keys are written before their conversation rather than in a
// TransactWriteItems: transactions cost twice the write units, and the
// open-source DynamoDB emulators the tests run against do not implement
// them. The order makes a crash between the two writes safe: the key names
// a conversation that does not exist yet, and the client's retry with the
// same key finds the key, misses the conversation and writes it under the
// key's ID, so exactly one conversation is ever created per key. A
// conversation write that fails (rather than losing a race) gives the key
// back once a read shows the conversation is not there, so a retry with a
// corrected body is not refused for the key's lifetime.
package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

var _ recall.Store = (*Store)(nil)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// Logger receives the rare warnings the store has (a TTL it could not
	// enable). Defaults to discarding.
	Logger *slog.Logger
	// Now is the clock that decides whether an idempotency key has expired;
	// tests replace it. Defaults to time.Now.
	Now func() time.Time
}

// Store is a recall.Store in one DynamoDB table. It holds no state besides
// the client, so any number of Lambda instances can share the table.
type Store struct {
	client *dynamodb.Client
	table  string
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Store on table through client. The table must exist with
// TableDefinition's schema; CreateTable makes it.
func New(client *dynamodb.Client, table string, opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{client: client, table: table, log: opts.Logger, now: opts.Now}
}

// Table returns the table's name, for logs and health output.
func (s *Store) Table() string { return s.table }

func (s *Store) key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(pk), AttrSK: str(sk)}
}

// Create implements recall.Store.
func (s *Store) Create(ctx context.Context, c *recall.Conversation, idem *recall.Idempotency) (*recall.Conversation, bool, error) {
	rec := c.InUTC()
	rec.Items = nil // an analysis brings them
	if idem == nil {
		if err := s.putConversation(ctx, rec, ""); err != nil {
			return nil, false, err
		}
		return rec, true, nil
	}
	// Each round either settles the create or sees a key change under it
	// (expired, rolled back); three rounds are plenty.
	for range 3 {
		stored, created, err, settled := s.createWithKey(ctx, rec, idem)
		if settled {
			return stored, created, err
		}
	}
	return nil, false, recall.Errorf(recall.ECONFLICT, "Idempotency-Key %q is being used by a concurrent request; retry.", idem.Key)
}

// createWithKey runs one round of the key-first protocol; settled is false
// when the key vanished between reads and the round should be repeated.
func (s *Store) createWithKey(ctx context.Context, rec *recall.Conversation, idem *recall.Idempotency) (_ *recall.Conversation, created bool, _ error, settled bool) {
	now := s.now()
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     idemItem(rec.Owner, idem, rec.ID),
		ConditionExpression:      aws.String("attribute_not_exists(#pk) OR #exp <= :now"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#exp": TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(now.Unix()),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		// The key is ours: write the conversation.
		stored, created, err := s.writeUnderKey(ctx, rec, idem)
		return stored, created, err, true
	case !errors.As(err, &ccf):
		return nil, false, fmt.Errorf("dynamo: claim idempotency key for %s: %w", rec.ID, err), true
	}

	// Someone holds the key: replay their conversation.
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.key(ownerPK(rec.Owner), idemSK(idem.Key)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, false, fmt.Errorf("dynamo: read idempotency key: %w", err), true
	}
	if out.Item == nil {
		return nil, false, nil, false
	}
	d := decoder{item: out.Item}
	prevID, prevFP, exp := d.str(attrConvID), d.str(attrFingerprint), d.int(TTLAttribute)
	if d.err != nil {
		return nil, false, fmt.Errorf("dynamo: read idempotency key: %w", d.err), true
	}
	if int64(exp) <= now.Unix() {
		return nil, false, nil, false
	}
	if prevFP != idem.Fingerprint {
		return nil, false, recall.Errorf(recall.ECONFLICT, "Idempotency-Key %q was used for a different request.", idem.Key), true
	}
	got, err := s.Get(ctx, rec.Owner, prevID)
	if err == nil {
		return got, false, nil, true
	}
	if recall.ErrorCode(err) != recall.ENOTFOUND {
		return nil, false, err, true
	}
	// The key's first writer has not written (or never will write) its
	// conversation. This request is the same one (same fingerprint), so
	// complete it under the key's ID; whoever's put lands first created it.
	completed := *rec
	completed.ID = prevID
	switch err := s.putConversation(ctx, &completed, idem.Key); recall.ErrorCode(err) {
	case "":
		return &completed, true, nil, true
	case recall.ECONFLICT:
		got, err := s.Get(ctx, rec.Owner, prevID)
		return got, false, err, true
	default:
		return nil, false, err, true
	}
}

// writeUnderKey writes rec once this request holds idem's key, and gives
// the key back when the write failed, so a retry is not bound to a
// conversation that does not exist (a retry with a corrected body would
// otherwise get 409 until the key expired).
func (s *Store) writeUnderKey(ctx context.Context, rec *recall.Conversation, idem *recall.Idempotency) (*recall.Conversation, bool, error) {
	err := s.putConversation(ctx, rec, idem.Key)
	if err == nil {
		return rec, true, nil
	}
	// The request may be out of time already; cleaning up must not be.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if recall.ErrorCode(err) == recall.ECONFLICT {
		// Either a replay of this request completed it first (fine) or
		// an unrelated conversation has this ID (give the key back).
		got, gerr := s.Get(cctx, rec.Owner, rec.ID)
		if gerr == nil && got != nil && s.createdWithKey(cctx, rec, idem.Key) {
			return got, false, nil
		}
		s.releaseKey(cctx, rec, idem)
		return nil, false, err
	}
	// The write failed, or its answer was lost. If it landed after all,
	// the conversation is there under this key: it was created. If it is
	// not there, give the key back. If even that cannot be told, keep the
	// key: a retry with the same body then completes the create under it,
	// where releasing could let a landed write and the retry make two.
	got, gerr := s.Get(cctx, rec.Owner, rec.ID)
	switch {
	case gerr == nil && s.createdWithKey(cctx, rec, idem.Key):
		return got, true, nil
	case recall.ErrorCode(gerr) == recall.ENOTFOUND:
		s.releaseKey(cctx, rec, idem)
	}
	return nil, false, err
}

// createdWithKey reports whether owner's conversation rec.ID was created
// with idempotency key key.
func (s *Store) createdWithKey(ctx context.Context, rec *recall.Conversation, key string) bool {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.table),
		Key:                      s.key(ownerPK(rec.Owner), convSK(rec.ID)),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#k"),
		ExpressionAttributeNames: map[string]string{"#k": attrIdemKey},
	})
	if err != nil || out.Item == nil {
		return false
	}
	d := decoder{item: out.Item}
	return d.str(attrIdemKey) == key
}

// releaseKey deletes a key this request claimed for a conversation it could
// not write, so a retry is not bound to it. Failing to is harmless: the key
// then names a conversation that exists, which a replay returns.
func (s *Store) releaseKey(ctx context.Context, rec *recall.Conversation, idem *recall.Idempotency) {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      s.key(ownerPK(rec.Owner), idemSK(idem.Key)),
		ConditionExpression:      aws.String("#cid = :id AND #fp = :fp"),
		ExpressionAttributeNames: map[string]string{"#cid": attrConvID, "#fp": attrFingerprint},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":id": str(rec.ID), ":fp": str(idem.Fingerprint),
		},
	})
	if err != nil {
		s.log.WarnContext(ctx, "could not release idempotency key", "conversation_id", rec.ID, "error", err.Error())
	}
}

// putConversation writes a new conversation; ECONFLICT if its ID exists.
func (s *Store) putConversation(ctx context.Context, c *recall.Conversation, idemKey string) error {
	item, err := encodeConversation(c, idemKey)
	if err != nil {
		return fmt.Errorf("dynamo: encode %s: %w", c.ID, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return recall.Errorf(recall.ECONFLICT, "conversation %s already exists", c.ID)
	}
	if err != nil {
		return fmt.Errorf("dynamo: put %s: %w", c.ID, err)
	}
	return nil
}

// Get implements recall.Store. It reads consistently, so a client sees its
// own create and the worker's result at once.
func (s *Store) Get(ctx context.Context, owner, id string) (*recall.Conversation, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            s.key(ownerPK(owner), convSK(id)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: get %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", id)
	}
	c, err := decodeConversation(out.Item)
	if err != nil {
		return nil, fmt.Errorf("dynamo: get %s: %w", id, err)
	}
	return c, nil
}

// List implements recall.Store: one Query newest first, more when large
// items make DynamoDB stop a page at 1 MB.
func (s *Store) List(ctx context.Context, owner, after string, limit int) ([]*recall.Conversation, bool, error) {
	if limit <= 0 {
		return nil, false, recall.Errorf(recall.EINVALID, "limit must be positive")
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		ScanIndexForward:         aws.Bool(false),
		ConsistentRead:           aws.Bool(true),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(ownerPK(owner)), ":lo": str(convPrefix),
		},
	}
	if after == "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :lo)")
	} else {
		// BETWEEN is inclusive; the item at after, if any, is dropped below.
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi")
		in.ExpressionAttributeValues[":hi"] = str(convSK(after))
	}
	var items []*recall.Conversation
	for {
		// One more than asked tells whether more exist; one more again
		// covers the item at after.
		in.Limit = aws.Int32(int32(limit + 2 - len(items)))
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("dynamo: list: %w", err)
		}
		for _, it := range out.Items {
			c, err := decodeConversation(it)
			if err != nil {
				return nil, false, fmt.Errorf("dynamo: list: %w", err)
			}
			if c.ID == after {
				continue
			}
			items = append(items, c)
		}
		if len(items) > limit || out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(items) > limit {
		return items[:limit], true, nil
	}
	return items, false, nil
}

// Transition implements recall.Store with one conditional UpdateItem whose
// condition is Conversation.Apply's rule for the event; ReturnValues
// ALL_NEW hands back the conversation, content included, so a worker's start
// needs no separate read.
func (s *Store) Transition(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	if t.Event == recall.EventDone || t.Event == recall.EventFail {
		return s.finish(ctx, ref, t) // they may change the item rows (items.go)
	}
	refund := t.Event == recall.EventRetry && t.Refund
	for range 3 {
		u, err := transitionUpdate(ref, t, refund)
		if err != nil {
			return nil, err
		}
		in := &dynamodb.UpdateItemInput{
			TableName:                           aws.String(s.table),
			Key:                                 s.key(ownerPK(ref.Owner), convSK(ref.ID)),
			UpdateExpression:                    aws.String(u.expression()),
			ConditionExpression:                 aws.String(strings.Join(u.conds, " AND ")),
			ExpressionAttributeNames:            u.names,
			ExpressionAttributeValues:           u.values,
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}
		out, err := s.client.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			// Find out why from the item as it was: missing, or Apply's
			// refusal. DynamoDB returns it with the failure; emulators that
			// do not cost one read.
			old := ccf.Item
			if old == nil {
				got, gerr := s.client.GetItem(ctx, &dynamodb.GetItemInput{
					TableName: aws.String(s.table), Key: in.Key, ConsistentRead: aws.Bool(true),
				})
				if gerr != nil {
					return nil, fmt.Errorf("dynamo: %s %s: read after refusal: %w", t.Event, ref.ID, gerr)
				}
				old = got.Item
			}
			if len(old) == 0 {
				return nil, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", ref.ID)
			}
			c, derr := decodeConversation(old)
			if derr != nil {
				return nil, fmt.Errorf("dynamo: %s %s: %w", t.Event, ref.ID, derr)
			}
			if err := c.Apply(ref.Run, t); err != nil {
				return nil, err
			}
			// Apply allows it now: either the refund's attempts > 0 guard
			// failed (Apply then leaves attempts alone), or the item changed
			// between the write and the read. Try again.
			if refund && c.Attempts == 0 {
				refund = false
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
		return c, nil
	}
	return nil, recall.Errorf(recall.ECONFLICT, "conversation %s is changing under concurrent updates; retry", ref.ID)
}

// update collects the parts of an UpdateItem.
type update struct {
	set, remove, conds []string
	names              map[string]string
	values             map[string]types.AttributeValue
}

func (u *update) name(attr string) string {
	k := "#" + attr
	u.names[k] = attr
	return k
}

func (u *update) value(v types.AttributeValue) string {
	k := fmt.Sprintf(":v%d", len(u.values))
	u.values[k] = v
	return k
}

func (u *update) setValue(attr string, v types.AttributeValue) {
	u.set = append(u.set, u.name(attr)+" = "+u.value(v))
}

// setString sets attr to v, or removes it when v is empty, matching how
// encodeConversation leaves empty fields out.
func (u *update) setString(attr, v string) {
	if v == "" {
		u.remove = append(u.remove, u.name(attr))
		return
	}
	u.setValue(attr, str(v))
}

func (u *update) setList(attr string, v []string) {
	if len(v) == 0 {
		u.remove = append(u.remove, u.name(attr))
		return
	}
	u.setValue(attr, strList(v))
}

func (u *update) setNum(attr string, n int) {
	if n == 0 {
		u.remove = append(u.remove, u.name(attr))
		return
	}
	u.setValue(attr, num(int64(n)))
}

// setTime sets attr to t as Unix nanoseconds (a number, so conditions
// compare it in time order), or removes it when t is zero.
func (u *update) setTime(attr string, t time.Time) {
	if t.IsZero() {
		u.remove = append(u.remove, u.name(attr))
		return
	}
	u.setValue(attr, num(t.UnixNano()))
}

func (u *update) expression() string {
	var b strings.Builder
	if len(u.set) > 0 {
		b.WriteString("SET " + strings.Join(u.set, ", "))
	}
	if len(u.remove) > 0 {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString("REMOVE " + strings.Join(u.remove, ", "))
	}
	return b.String()
}

// transitionUpdate expresses Conversation.Apply for t as an update and a
// condition: the item exists, its run is ref's (except for reprocess), its
// status is one the event is allowed from, and for a start its hold has
// passed by t.At.
func transitionUpdate(ref recall.Ref, t recall.Transition, refund bool) (*update, error) {
	allowed := t.Event.AllowedFrom()
	if len(allowed) == 0 {
		return nil, recall.Errorf(recall.EINVALID, "unknown event %q", t.Event)
	}
	if t.Event == recall.EventDone && t.Analysis == nil {
		return nil, recall.Errorf(recall.EINVALID, "done transition without an analysis")
	}
	u := &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
	u.conds = append(u.conds, "attribute_exists("+u.name(AttrPK)+")")
	if t.Event != recall.EventReprocess {
		u.conds = append(u.conds, u.name(attrRun)+" = "+u.value(num(int64(ref.Run))))
	}
	var in []string
	for _, st := range allowed {
		in = append(in, u.value(str(string(st))))
	}
	u.conds = append(u.conds, u.name(attrStatus)+" IN ("+strings.Join(in, ", ")+")")
	if t.Event == recall.EventStart {
		// Apply's hold: no start before the last hold ends, by the
		// caller's clock.
		lease := u.name(attrLeaseUntil)
		u.conds = append(u.conds, "(attribute_not_exists("+lease+") OR "+lease+" <= "+u.value(num(t.At.UnixNano()))+")")
	}
	at := t.At.UTC()
	u.setValue(attrUpdatedAt, str(formatTime(at)))
	stillStuck := func(st recall.Status) {
		u.setValue(attrStatus, str(string(st)))
		u.setValue(AttrStuckPK, str(stuckShard(ref.ID)))
		u.setValue(AttrStuckSK, str(stuckSK(at, ref.ID)))
	}
	finished := func(st recall.Status) {
		u.setValue(attrStatus, str(string(st)))
		u.setValue(attrProcessedAt, str(formatTime(at)))
		u.remove = append(u.remove, u.name(AttrStuckPK), u.name(AttrStuckSK), u.name(attrLeaseUntil))
	}
	switch t.Event {
	case recall.EventStart:
		stillStuck(recall.StatusProcessing)
		u.set = append(u.set, u.name(attrAttempts)+" = "+u.name(attrAttempts)+" + "+u.value(num(1)))
		u.setTime(attrLeaseUntil, t.LeaseUntil)
	case recall.EventRetry:
		stillStuck(recall.StatusPending)
		u.setString(attrError, t.Reason)
		u.setTime(attrLeaseUntil, t.LeaseUntil)
		if refund {
			one := u.value(num(1))
			u.set = append(u.set, u.name(attrAttempts)+" = "+u.name(attrAttempts)+" - "+one)
			u.conds = append(u.conds, u.name(attrAttempts)+" >= "+one)
		}
	case recall.EventDone:
		a := t.Analysis
		finished(recall.StatusDone)
		u.setString(attrSummary, a.Summary)
		u.setList(attrActionItems, a.ActionItems)
		u.setList(attrKeywords, a.Keywords)
		u.setString(attrModel, a.Model)
		u.setNum(attrInputTok, a.Usage.InputTokens)
		u.setNum(attrOutputTok, a.Usage.OutputTokens)
		u.remove = append(u.remove, u.name(attrError))
	case recall.EventFail:
		finished(recall.StatusFailed)
		u.setString(attrError, t.Reason)
	case recall.EventTouch:
		u.setValue(AttrStuckPK, str(stuckShard(ref.ID)))
		u.setValue(AttrStuckSK, str(stuckSK(at, ref.ID)))
	case recall.EventReprocess:
		stillStuck(recall.StatusPending)
		u.set = append(u.set, u.name(attrRun)+" = "+u.name(attrRun)+" + "+u.value(num(1)))
		u.setValue(attrAttempts, num(0))
		for _, a := range []string{attrSummary, attrActionItems, attrKeywords, attrError, attrModel, attrInputTok, attrOutputTok, attrProcessedAt, attrLeaseUntil} {
			u.remove = append(u.remove, u.name(a))
		}
	}
	return u, nil
}

// Stuck implements recall.Store. It queries every shard of the stuck index
// for entries older than before (and after cursor), then merges them; the
// cursor is the last entry's sort key. The index is eventually consistent,
// which suits a sweeper that runs again a few seconds later.
func (s *Store) Stuck(ctx context.Context, before time.Time, cursor string, limit int) ([]*recall.Conversation, string, error) {
	if limit <= 0 {
		return nil, "", recall.Errorf(recall.EINVALID, "limit must be positive")
	}
	end := sortTime(before)
	if cursor != "" && (len(cursor) <= len(sortTimeLayout) || cursor[len(sortTimeLayout)] != '#') {
		return nil, "", recall.Errorf(recall.EINVALID, "stuck cursor is not valid")
	}
	if cursor >= end {
		return nil, "", nil
	}
	type entry struct {
		sk string
		c  *recall.Conversation
	}
	var all []entry
	for shard := range StuckShards {
		in := &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			IndexName:                aws.String(StuckIndex),
			ExpressionAttributeNames: map[string]string{"#pk": AttrStuckPK, "#sk": AttrStuckSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(fmt.Sprint(stuckPrefix, shard)), ":end": str(end),
			},
		}
		if cursor == "" {
			in.KeyConditionExpression = aws.String("#pk = :pk AND #sk < :end")
		} else {
			in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :cur AND :end")
			in.ExpressionAttributeValues[":cur"] = str(cursor)
		}
		// Every shard may hold the whole next page: read up to limit+1 of
		// each (the +1 tells whether more exist), following 1 MB pages.
		n := 0
		for {
			in.Limit = aws.Int32(int32(limit + 2 - n))
			out, err := s.client.Query(ctx, in)
			if err != nil {
				return nil, "", fmt.Errorf("dynamo: stuck: %w", err)
			}
			for _, it := range out.Items {
				sk := (&decoder{item: it}).str(AttrStuckSK)
				if sk == cursor || sk >= end {
					continue
				}
				c, err := decodeConversation(it)
				if err != nil {
					return nil, "", fmt.Errorf("dynamo: stuck: %w", err)
				}
				all = append(all, entry{sk, c})
				n++
			}
			if n > limit || out.LastEvaluatedKey == nil {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.sk, b.sk) })
	next := ""
	if len(all) > limit {
		all = all[:limit]
		next = all[limit-1].sk
	}
	items := make([]*recall.Conversation, len(all))
	for i, e := range all {
		items[i] = e.c
	}
	return items, next, nil
}

// Ping implements recall.Store with an eventually consistent GetItem of a
// key no item has: half a read unit, and it fails like real traffic does
// when the endpoint is unreachable, the credentials or IAM policy refuse, or
// the table is missing. (DescribeTable would need its own IAM permission and
// has a far lower request limit than a health check may be polled at.)
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table),
		Key:       s.key("PING", "PING"),
	})
	if err != nil {
		return fmt.Errorf("dynamo: ping %s: %w", s.table, err)
	}
	return nil
}

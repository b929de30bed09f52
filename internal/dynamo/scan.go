package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

var _ recall.Scanner = (*Store)(nil)

// scanRequestsPerPage bounds the DynamoDB requests one Scan page makes when
// its filter matches little, so a caller sees progress (and can checkpoint)
// at least every few megabytes read.
const scanRequestsPerPage = 8

// scanProjection is what Scan reads of each item: everything an operator
// listing or a reprocess needs, not the content, which would make every page
// as large as the conversations themselves.
var scanProjection = []string{AttrPK, AttrSK, attrID, attrOwner, attrTitle, attrPostType, attrPriority,
	attrCreatedAt, attrUpdatedAt, attrStatus, attrRun, attrAttempts, attrError, attrModel, attrProcessedAt}

// Scan implements recall.Scanner for operator backfills (`recall reprocess`).
//
// With ScanFilter.Owner it is a Query of that owner's partition. Without it
// it is a table Scan: it reads, and is billed for, every item in the table,
// which no request path may do but an operator's occasional backfill may —
// paced by the caller, and resumable from any item, so it can be stopped
// and continued. Status and the time bound are applied as a FilterExpression
// (they save transfer, not read units) and again exactly with Match.
//
// The cursor is the last evaluated key, base64-encoded.
func (s *Store) Scan(ctx context.Context, f recall.ScanFilter, cursor string, limit int) (recall.ScanPage, error) {
	if limit <= 0 {
		return recall.ScanPage{}, recall.Errorf(recall.EINVALID, "limit must be positive")
	}
	start, err := s.scanStart(f, cursor)
	if err != nil {
		return recall.ScanPage{}, err
	}
	var read scanRead
	if f.Owner != "" {
		read = s.queryOwner(ctx, f.Owner, newScanExpr(f))
	} else {
		read = s.scanTable(ctx, newScanExpr(f))
	}
	return readScanPage(f, read, start, limit)
}

// scanStart is the key a page starts after: nil for the first page, else
// the cursor's key. A cursor that does not decode to a key of this table, or
// (with an owner) of that owner's partition, is refused as invalid input, so
// an edited cursor cannot start a Query in someone else's partition.
func (s *Store) scanStart(f recall.ScanFilter, cursor string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	k, err := decodeScanCursor(cursor)
	if err != nil || (f.Owner != "" && k.PK != ownerPK(f.Owner)) {
		return nil, recall.Errorf(recall.EINVALID, "scan cursor is not valid")
	}
	return s.key(k.PK, k.SK), nil
}

// scanExpr is what a Query and a Scan of conversations share: the
// expression's attribute names and values, the conditions the filter adds,
// and the projection (scanProjection under placeholder names, since some of
// its attributes are reserved words in DynamoDB expressions).
type scanExpr struct {
	names   map[string]string
	values  map[string]types.AttributeValue
	filters []string // conditions beyond "is a conversation", ANDed
	proj    string
}

func newScanExpr(f recall.ScanFilter) scanExpr {
	e := scanExpr{
		names:  map[string]string{"#sk": AttrSK},
		values: map[string]types.AttributeValue{":conv": str(convPrefix)},
	}
	if f.Status != "" {
		e.names["#st"] = attrStatus
		e.values[":st"] = str(string(f.Status))
		e.filters = append(e.filters, "#st = :st")
	}
	if !f.Since.IsZero() {
		// updated_at is RFC 3339 with trimmed fractions, whose string order
		// is time order only to the second; a bound one second early keeps
		// every match, and Match drops the few extra.
		e.names["#up"] = attrUpdatedAt
		e.values[":since"] = str(f.Since.UTC().Truncate(time.Second).Add(-time.Second).Format(time.RFC3339))
		e.filters = append(e.filters, "#up >= :since")
	}
	proj := make([]string, len(scanProjection))
	for i, a := range scanProjection {
		proj[i] = "#p" + fmt.Sprint(i)
		e.names[proj[i]] = a
	}
	e.proj = strings.Join(proj, ", ")
	return e
}

// scanRead makes one request for at most n items after start and returns
// the items and the key it stopped at (nil at the end). It hides whether a
// page is a Query or a Scan from the loop that fills the page.
type scanRead func(start map[string]types.AttributeValue, n int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error)

// queryOwner reads one owner's conversations: a Query of their partition,
// billed for that partition only.
func (s *Store) queryOwner(ctx context.Context, owner string, e scanExpr) scanRead {
	e.names["#pk"] = AttrPK
	e.values[":pk"] = str(ownerPK(owner))
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :conv)"),
		ProjectionExpression:      aws.String(e.proj),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}
	if len(e.filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(e.filters, " AND "))
	}
	return func(start map[string]types.AttributeValue, n int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
		in.Limit, in.ExclusiveStartKey = aws.Int32(n), start
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		return out.Items, out.LastEvaluatedKey, nil
	}
}

// scanTable reads every owner's conversations: a table Scan, which reads
// every item (idempotency keys and item rows too) and filters the
// conversations out, since no key condition can pick them.
func (s *Store) scanTable(ctx context.Context, e scanExpr) scanRead {
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          aws.String(strings.Join(append([]string{"begins_with(#sk, :conv)"}, e.filters...), " AND ")),
		ProjectionExpression:      aws.String(e.proj),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}
	return func(start map[string]types.AttributeValue, n int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
		in.Limit, in.ExclusiveStartKey = aws.Int32(n), start
		out, err := s.client.Scan(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		return out.Items, out.LastEvaluatedKey, nil
	}
}

// readScanPage fills one page with read, from start, until it holds limit
// matches, the reads reach the end, or scanRequestsPerPage requests have
// been made. The last bound returns a short (even empty) page with a
// cursor, so a filter that matches little still shows progress.
func readScanPage(f recall.ScanFilter, read scanRead, start map[string]types.AttributeValue, limit int) (recall.ScanPage, error) {
	var page recall.ScanPage
	for range scanRequestsPerPage {
		// Limit counts items read, not matched, so asking for what is left
		// of the page never returns more than limit matches.
		items, last, err := read(start, int32(limit-len(page.Items)))
		if err != nil {
			return recall.ScanPage{}, fmt.Errorf("dynamo: scan: %w", err)
		}
		for _, it := range items {
			c, err := decodeConversation(it)
			if err != nil {
				return recall.ScanPage{}, fmt.Errorf("dynamo: scan: %w", err)
			}
			if f.Match(c) {
				page.Items = append(page.Items, c)
			}
		}
		if last == nil {
			return page, nil
		}
		start = last
		if len(page.Items) >= limit {
			break
		}
	}
	d := decoder{item: start}
	page.Next = encodeScanCursor(scanKey{PK: d.str(AttrPK), SK: d.str(AttrSK)})
	return page, nil
}

// ScanCursor implements recall.Scanner: the conversation's own key, which
// DynamoDB accepts as the ExclusiveStartKey of a Scan or Query.
func (s *Store) ScanCursor(c *recall.Conversation) string {
	return encodeScanCursor(scanKey{PK: ownerPK(c.Owner), SK: convSK(c.ID)})
}

type scanKey struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
}

func encodeScanCursor(k scanKey) string {
	b, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeScanCursor(cursor string) (scanKey, error) {
	var k scanKey
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return k, err
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return k, err
	}
	// A table scan stops wherever its read budget ends, on an item of
	// any kind: a conversation, an idempotency key or an item row.
	if !strings.HasPrefix(k.PK, ownerPrefix) || !slices.ContainsFunc([]string{convPrefix, idemPrefix, itemPrefix, itemByPrefix}, func(p string) bool { return strings.HasPrefix(k.SK, p) }) {
		return k, fmt.Errorf("not a key of this table")
	}
	return k, nil
}

// Probe writes, reads back (consistently) and deletes a scratch item whose
// key no conversation can have, so `recall doctor` knows the table is
// writable with these credentials, not only readable as Ping checks. It
// needs PutItem and DeleteItem besides GetItem, which an operator's
// credentials have and the functions' own role also grants. A failure
// carries a domain code and a message naming the fix (see classify).
func (s *Store) Probe(ctx context.Context) error {
	id := make([]byte, 8)
	rand.Read(id)
	key := s.key("PROBE#"+hex.EncodeToString(id), "PROBE")
	item := s.key("PROBE#"+hex.EncodeToString(id), "PROBE")
	at := formatTime(s.now())
	item[attrUpdatedAt] = str(at)
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("dynamo: probe write to %s: %w", s.table, s.classify(err))
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("dynamo: probe read from %s: %w", s.table, s.classify(err))
	}
	if d := (decoder{item: out.Item}); d.str(attrUpdatedAt) != at {
		return fmt.Errorf("dynamo: probe read back %q from %s, wrote %q", d.str(attrUpdatedAt), s.table, at)
	}
	if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key}); err != nil {
		return fmt.Errorf("dynamo: probe delete from %s: %w", s.table, s.classify(err))
	}
	return nil
}

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
	var start map[string]types.AttributeValue
	if cursor != "" {
		k, err := decodeScanCursor(cursor)
		if err != nil || (f.Owner != "" && k.PK != ownerPK(f.Owner)) {
			return recall.ScanPage{}, recall.Errorf(recall.EINVALID, "scan cursor is not valid")
		}
		start = s.key(k.PK, k.SK)
	}

	names := map[string]string{"#sk": AttrSK}
	values := map[string]types.AttributeValue{":conv": str(convPrefix)}
	var filters []string
	if f.Status != "" {
		names["#st"] = attrStatus
		values[":st"] = str(string(f.Status))
		filters = append(filters, "#st = :st")
	}
	if !f.Since.IsZero() {
		// updated_at is RFC 3339 with trimmed fractions, whose string order
		// is time order only to the second; a bound one second early keeps
		// every match, and Match drops the few extra.
		names["#up"] = attrUpdatedAt
		values[":since"] = str(f.Since.UTC().Truncate(time.Second).Add(-time.Second).Format(time.RFC3339))
		filters = append(filters, "#up >= :since")
	}
	proj := make([]string, len(scanProjection))
	for i, a := range scanProjection {
		proj[i] = "#p" + fmt.Sprint(i)
		names[proj[i]] = a
	}

	// next runs one request from start and returns its items and the key
	// it stopped at.
	var next func(n int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error)
	if f.Owner != "" {
		names["#pk"] = AttrPK
		values[":pk"] = str(ownerPK(f.Owner))
		in := &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :conv)"),
			ProjectionExpression:      aws.String(strings.Join(proj, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}
		if len(filters) > 0 {
			in.FilterExpression = aws.String(strings.Join(filters, " AND "))
		}
		next = func(n int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
			in.Limit, in.ExclusiveStartKey = aws.Int32(n), start
			out, err := s.client.Query(ctx, in)
			if err != nil {
				return nil, nil, err
			}
			return out.Items, out.LastEvaluatedKey, nil
		}
	} else {
		in := &dynamodb.ScanInput{
			TableName:                 aws.String(s.table),
			FilterExpression:          aws.String(strings.Join(append([]string{"begins_with(#sk, :conv)"}, filters...), " AND ")),
			ProjectionExpression:      aws.String(strings.Join(proj, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}
		next = func(n int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
			in.Limit, in.ExclusiveStartKey = aws.Int32(n), start
			out, err := s.client.Scan(ctx, in)
			if err != nil {
				return nil, nil, err
			}
			return out.Items, out.LastEvaluatedKey, nil
		}
	}

	var page recall.ScanPage
	for range scanRequestsPerPage {
		// Limit counts items read, not matched, so asking for what is left
		// of the page never returns more than limit matches.
		items, last, err := next(int32(limit - len(page.Items)))
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

package dynamo

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/recall"
)

// Conversation attribute names. Empty strings, empty lists and zero times
// are left out of the item rather than stored, so an item holds only what a
// conversation has and a removed field is simply absent.
const (
	attrID          = "id"
	attrOwner       = "owner"
	attrTitle       = "title"
	attrContent     = "content"
	attrContentZ    = "content_z" // content, DEFLATE-compressed, when that is smaller
	attrPostType    = "post_type"
	attrPriority    = "priority"
	attrCreatedAt   = "created_at"
	attrUpdatedAt   = "updated_at"
	attrStatus      = "status"
	attrRun         = "run"
	attrAttempts    = "attempts"
	attrSummary     = "summary"
	attrActionItems = "action_items"
	attrKeywords    = "keywords"
	attrError       = "error"
	attrModel       = "model"
	attrInputTok    = "input_tokens"
	attrOutputTok   = "output_tokens"
	attrProcessedAt = "processed_at"
	// attrLeaseUntil is the conversation's hold (Conversation.LeaseUntil)
	// in Unix nanoseconds: a number, so a condition compares it with the
	// caller's clock in time order, to the nanosecond.
	attrLeaseUntil = "lease_until"
	// attrIdemKey records the idempotency key a conversation was created
	// with, so a create that loses a race to its own replay can tell that
	// conversation from an unrelated one with the same ID.
	attrIdemKey = "idem_key"

	// Idempotency key item attributes (besides pk, sk and TTLAttribute).
	attrConvID      = "conversation_id"
	attrFingerprint = "fingerprint"
)

// compressAbove is the content size from which the store tries DEFLATE.
// DynamoDB bills writes per KB and caps items at 400 KB; 100,000 characters
// of 4-byte text is 400,000 bytes, which would not fit uncompressed next to
// a title and a summary. Short content stays readable in the console.
const compressAbove = 4 << 10

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func strList(vs []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(vs))
	for i, v := range vs {
		l[i] = str(v)
	}
	return &types.AttributeValueMemberL{Value: l}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// encodeConversation returns c's item, with the stuck index keys while c is
// pending or processing. idemKey is the idempotency key it is created with,
// if any.
func encodeConversation(c *recall.Conversation, idemKey string) (map[string]types.AttributeValue, error) {
	item := map[string]types.AttributeValue{
		AttrPK:        str(ownerPK(c.Owner)),
		AttrSK:        str(convSK(c.ID)),
		attrID:        str(c.ID),
		attrOwner:     str(c.Owner),
		attrPostType:  str(c.PostType),
		attrPriority:  str(string(c.Priority)),
		attrCreatedAt: str(formatTime(c.CreatedAt)),
		attrUpdatedAt: str(formatTime(c.UpdatedAt)),
		attrStatus:    str(string(c.Status)),
		attrRun:       num(int64(c.Run)),
		attrAttempts:  num(int64(c.Attempts)),
	}
	put := func(name, v string) {
		if v != "" {
			item[name] = str(v)
		}
	}
	put(attrTitle, c.Title)
	put(attrSummary, c.Summary)
	put(attrError, c.Error)
	put(attrModel, c.Model)
	put(attrIdemKey, idemKey)
	if len(c.ActionItems) > 0 {
		item[attrActionItems] = strList(c.ActionItems)
	}
	if len(c.Keywords) > 0 {
		item[attrKeywords] = strList(c.Keywords)
	}
	if c.Usage.InputTokens != 0 {
		item[attrInputTok] = num(int64(c.Usage.InputTokens))
	}
	if c.Usage.OutputTokens != 0 {
		item[attrOutputTok] = num(int64(c.Usage.OutputTokens))
	}
	if !c.ProcessedAt.IsZero() {
		item[attrProcessedAt] = str(formatTime(c.ProcessedAt))
	}
	if !c.LeaseUntil.IsZero() {
		item[attrLeaseUntil] = num(c.LeaseUntil.UnixNano())
	}
	if c.Status.InProgress() {
		item[AttrStuckPK] = str(stuckShard(c.ID))
		item[AttrStuckSK] = str(stuckSK(c.UpdatedAt, c.ID))
	}
	if err := encodeContent(item, c.Content); err != nil {
		return nil, err
	}
	return item, nil
}

func encodeContent(item map[string]types.AttributeValue, content string) error {
	if content == "" {
		return nil
	}
	if len(content) > compressAbove {
		var b bytes.Buffer
		w, err := flate.NewWriter(&b, flate.BestCompression)
		if err != nil {
			return fmt.Errorf("compress content: %w", err)
		}
		if _, err := io.WriteString(w, content); err != nil {
			return fmt.Errorf("compress content: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("compress content: %w", err)
		}
		if b.Len() < len(content) {
			item[attrContentZ] = &types.AttributeValueMemberB{Value: b.Bytes()}
			return nil
		}
	}
	item[attrContent] = str(content)
	return nil
}

// decodeConversation reads an item written by encodeConversation or updated
// by a transition. Items read from the stuck index lack the content and
// other unprojected fields; those decode as empty.
func decodeConversation(item map[string]types.AttributeValue) (*recall.Conversation, error) {
	d := decoder{item: item}
	c := &recall.Conversation{
		ID:          d.str(attrID),
		Owner:       d.str(attrOwner),
		Title:       d.str(attrTitle),
		Content:     d.str(attrContent),
		PostType:    d.str(attrPostType),
		Priority:    recall.Priority(d.str(attrPriority)),
		CreatedAt:   d.time(attrCreatedAt),
		UpdatedAt:   d.time(attrUpdatedAt),
		Status:      recall.Status(d.str(attrStatus)),
		Run:         d.int(attrRun),
		Attempts:    d.int(attrAttempts),
		Summary:     d.str(attrSummary),
		ActionItems: d.strList(attrActionItems),
		Keywords:    d.strList(attrKeywords),
		Error:       d.str(attrError),
		Model:       d.str(attrModel),
		Usage:       recall.Usage{InputTokens: d.int(attrInputTok), OutputTokens: d.int(attrOutputTok)},
		ProcessedAt: d.time(attrProcessedAt),
		LeaseUntil:  d.nanos(attrLeaseUntil),
	}
	c.Items = d.items(attrItems)
	if z, ok := item[attrContentZ].(*types.AttributeValueMemberB); ok {
		raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(z.Value)))
		if err != nil {
			d.fail(attrContentZ, err)
		}
		c.Content = string(raw)
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

// decoder reads typed attributes, keeping the first error.
type decoder struct {
	item map[string]types.AttributeValue
	err  error
}

func (d *decoder) fail(name string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("decode attribute %s: %w", name, err)
	}
}

func (d *decoder) str(name string) string {
	switch v := d.item[name].(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		d.fail(name, fmt.Errorf("want a string, have %T", v))
		return ""
	}
}

func (d *decoder) int(name string) int {
	switch v := d.item[name].(type) {
	case nil:
		return 0
	case *types.AttributeValueMemberN:
		n, err := strconv.Atoi(v.Value)
		if err != nil {
			d.fail(name, err)
		}
		return n
	default:
		d.fail(name, fmt.Errorf("want a number, have %T", v))
		return 0
	}
}

// nanos reads a time stored as Unix nanoseconds; absent is the zero time.
func (d *decoder) nanos(name string) time.Time {
	if _, ok := d.item[name]; !ok {
		return time.Time{}
	}
	return time.Unix(0, int64(d.int(name))).UTC()
}

func (d *decoder) time(name string) time.Time {
	s := d.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.fail(name, err)
	}
	return t
}

func (d *decoder) strList(name string) []string {
	switch v := d.item[name].(type) {
	case nil:
		return nil
	case *types.AttributeValueMemberL:
		out := make([]string, 0, len(v.Value))
		for _, e := range v.Value {
			s, ok := e.(*types.AttributeValueMemberS)
			if !ok {
				d.fail(name, fmt.Errorf("want a list of strings, have a %T in it", e))
				return nil
			}
			out = append(out, s.Value)
		}
		return out
	default:
		d.fail(name, fmt.Errorf("want a list, have %T", v))
		return nil
	}
}

// idemItem is an idempotency key's item.
func idemItem(owner string, idem *recall.Idempotency, convID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK:          str(ownerPK(owner)),
		AttrSK:          str(idemSK(idem.Key)),
		attrConvID:      str(convID),
		attrFingerprint: str(idem.Fingerprint),
		TTLAttribute:    num(expirySeconds(idem.Expires)),
	}
}

// expirySeconds rounds up, so a key is kept at least until Expires.
func expirySeconds(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

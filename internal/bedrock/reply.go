package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

// Limits of a normalised analysis. A reply over them is cut, not refused:
// the model did its job, only too verbosely.
const (
	MaxSummaryChars = 2000
	MaxActionItems  = 20
	MaxItemChars    = 500
	MaxKeywords     = 10
	MaxKeywordChars = 60
)

// fields is a validated, normalised tool input.
type fields struct {
	Summary string
	// ActionItems are the items as plain strings, owner in front and
	// deadline after ("Ben: Rerun the load tests (by Friday)").
	ActionItems []string
	// Items are the items as the model gave them, normalised; their owner
	// and due phrase are checked against the conversation and resolved by
	// resolveItems.
	Items    []modelItem
	Keywords []string
}

// modelItem is one action item of a reply: the task, its owner and its
// deadline in the conversation's words, each "" when the model named none.
type modelItem struct {
	Text, Owner, DueText string
}

// schemaError says why a reply did not fit the tool's schema. It is
// retryable: a second call may well produce a fitting reply.
type schemaError struct{ reason string }

func (e *schemaError) Error() string { return e.reason }

func misfit(format string, args ...any) error {
	return &schemaError{reason: fmt.Sprintf(format, args...)}
}

// parseReply finds the call of tool in a Converse reply and validates its
// input against the tool's schema: a non-blank summary string and, when
// lists is true, action_items as an array of objects each with a text,
// owner and due_text string (owner and due_text may be null, read as
// none), and keywords as an array of strings. Anything else — a required
// field missing, wrong types, no tool call, a reply cut off at maxTokens —
// is a schemaError, never a partly filled result.
func parseReply(out *bedrockruntime.ConverseOutput, tool string, lists bool, maxTokens int) (fields, error) {
	stop := string(out.StopReason)
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		return fields{}, misfit("the reply carries no message (stopReason %s)", stop)
	}
	if out.StopReason == types.StopReasonMaxTokens {
		return fields{}, misfit("the reply was cut off at maxTokens (%d) before the %s input was complete", maxTokens, tool)
	}
	var use *types.ToolUseBlock
	for _, b := range msg.Value.Content {
		if tu, ok := b.(*types.ContentBlockMemberToolUse); ok && tu.Value.Name != nil && *tu.Value.Name == tool {
			use = &tu.Value
			break
		}
	}
	if use == nil {
		return fields{}, misfit("no toolUse block for %s in the reply (stopReason %s)", tool, stop)
	}
	if use.Input == nil {
		return fields{}, misfit("the %s call has no input", tool)
	}
	raw, err := use.Input.MarshalSmithyDocument()
	if err != nil {
		return fields{}, misfit("the %s input cannot be read: %v", tool, err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return fields{}, misfit("the %s input is %s, not an object", tool, jsonKind(raw))
	}
	var f fields
	if f.Summary, err = stringField(obj, "summary", "summary"); err != nil {
		return fields{}, err
	}
	if f.Summary = normaliseSummary(f.Summary); f.Summary == "" {
		return fields{}, misfit("summary is blank")
	}
	if lists {
		items, err := itemsField(obj, "action_items")
		if err != nil {
			return fields{}, err
		}
		kws, err := stringsField(obj, "keywords")
		if err != nil {
			return fields{}, err
		}
		f.Items = normaliseModelItems(items, MaxActionItems)
		f.ActionItems = normaliseItems(itemLines(f.Items), MaxActionItems)
		f.Keywords = normaliseKeywords(kws, MaxKeywords)
	}
	return f, nil
}

// itemsField reads name as an array of action item objects, each with every
// field the schema requires.
func itemsField(obj map[string]json.RawMessage, name string) ([]modelItem, error) {
	raw, ok := obj[name]
	if !ok || jsonKind(raw) == "null" {
		return nil, misfit("%s is missing", name)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, misfit("%s is %s, not an array of objects", name, jsonKind(raw))
	}
	out := make([]modelItem, 0, len(elems))
	for i, e := range elems {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(e, &o); err != nil || o == nil {
			return nil, misfit("%s[%d] is %s, not an object", name, i, jsonKind(e))
		}
		var it modelItem
		var err error
		at := func(f string) string { return fmt.Sprintf("%s[%d].%s", name, i, f) }
		if it.Text, err = stringField(o, "text", at("text")); err != nil {
			return nil, err
		}
		if it.Owner, err = optionalString(o, "owner", at("owner")); err != nil {
			return nil, err
		}
		if it.DueText, err = optionalString(o, "due_text", at("due_text")); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// optionalString reads a required field whose value may be null, meaning
// none: models write null for "nobody" often enough that refusing it would
// only buy a second paid call for the same answer. A missing field is
// refused all the same.
func optionalString(obj map[string]json.RawMessage, name, path string) (string, error) {
	raw, ok := obj[name]
	if !ok {
		return "", misfit("%s is missing", path)
	}
	if jsonKind(raw) == "null" {
		return "", nil
	}
	return stringField(obj, name, path)
}

// stringField reads name as a string; path names it in the error.
func stringField(obj map[string]json.RawMessage, name, path string) (string, error) {
	raw, ok := obj[name]
	if !ok || jsonKind(raw) == "null" {
		return "", misfit("%s is missing", path)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", misfit("%s is %s, not a string", path, jsonKind(raw))
	}
	return s, nil
}

func stringsField(obj map[string]json.RawMessage, name string) ([]string, error) {
	raw, ok := obj[name]
	if !ok || jsonKind(raw) == "null" {
		return nil, misfit("%s is missing", name)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, misfit("%s is %s, not an array of strings", name, jsonKind(raw))
	}
	out := make([]string, 0, len(elems))
	for i, e := range elems {
		var s string
		if err := json.Unmarshal(e, &s); err != nil {
			return nil, misfit("%s[%d] is %s, not a string", name, i, jsonKind(e))
		}
		out = append(out, s)
	}
	return out, nil
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

var spaces = regexp.MustCompile(`[ \t\f\v\x{00a0}]+`)

// normaliseSummary trims, collapses runs of spaces and blank lines, and caps
// the length at MaxSummaryChars.
func normaliseSummary(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(spaces.ReplaceAllString(l, " ")); l != "" {
			out = append(out, l)
		}
	}
	return capText(strings.Join(out, "\n"), MaxSummaryChars)
}

var bullet = regexp.MustCompile(`^(?:[-*•·–]|\d{1,3}[.)]|\[[ xX]?\])\s+`)

// normaliseItems makes each item one trimmed line without a list marker,
// capped at MaxItemChars, drops blanks and duplicates (ignoring case, spacing
// and end punctuation), and keeps at most max.
func normaliseItems(items []string, max int) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, it := range items {
		it = oneLine(it)
		it = capText(bullet.ReplaceAllString(it, ""), MaxItemChars)
		if it == "" {
			continue
		}
		k := dedupKey(it)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, it)
		if len(out) == max {
			break
		}
	}
	return out
}

// keywordTrim is stripped from both ends of a keyword. Beyond it a leading
// '#' (hashtags) and a trailing '.' go; '#', '+' and a leading '.' stay where
// they belong ("C#", "C++", ".NET").
const keywordTrim = "\"'“”‘’«»()[]{}<>,;:!?*_`"

// normaliseKeywords trims spacing, surrounding punctuation and hash signs,
// caps each at MaxKeywordChars, drops blanks and case-insensitive
// duplicates, and keeps at most max.
func normaliseKeywords(kws []string, max int) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, k := range kws {
		k = oneLine(k)
		k = strings.Trim(k, keywordTrim)
		k = strings.TrimLeft(k, "#")
		k = strings.TrimRight(k, ".")
		k = capText(k, MaxKeywordChars)
		key := dedupKey(k)
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, k)
		if len(out) == max {
			break
		}
	}
	return out
}

// dedupKey is the form two entries are compared in: lower case, single
// spaces, no trailing punctuation.
func dedupKey(s string) string {
	s = strings.ToLower(oneLine(s))
	return strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
}

// capText cuts s to at most max runes, at a sentence or word end when one is
// near, and marks the cut with an ellipsis (counted in max).
func capText(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)[:max-1]
	cut := string(r)
	// Prefer the last sentence end in the final fifth, then the last space.
	floor := len(cut) * 4 / 5
	if i := strings.LastIndexAny(cut, ".!?。"); i >= floor {
		_, size := utf8.DecodeRuneInString(cut[i:])
		return strings.TrimSpace(cut[:i+size])
	}
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i >= floor {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }) + "…"
}

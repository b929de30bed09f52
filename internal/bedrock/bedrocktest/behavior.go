package bedrocktest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Behavior decides how the fake answers one request that passed its checks.
// It may block (honouring ctx, which ends when the client goes away).
type Behavior func(ctx context.Context, req *Request) Response

// Response is a fake answer: an error when ErrorType is set, otherwise a
// Converse reply with Content and StopReason. Zero token counts are filled in
// from the sizes of the request and the reply.
type Response struct {
	// Name labels the behaviour in Request.Behavior.
	Name string
	// Status overrides the HTTP status of an error (default: StatusFor).
	Status             int
	ErrorType, Message string
	Content            []ContentBlock
	StopReason         string
	InputTokens        int
	OutputTokens       int
}

// Echo answers with a deterministic analysis made from the content: the
// first sentences as summary, lines that read like tasks as action items, the
// most frequent words as keywords. It fills whatever the forced tool's schema
// asks for (summary, action_items, keywords), so it also answers a tool that
// combines summaries. When the schema asks for action items as objects,
// each gets the task as text, an owner (the name before "will", else the
// line's speaker) and the deadline words in the line as due_text ("by
// Friday", "tomorrow", "EOD"), "" where there is none.
func Echo() Behavior {
	return func(_ context.Context, req *Request) Response {
		data := fenced(req.UserText())
		items := echoItems(data)
		values := map[string]any{
			"summary":  echoSummary(data),
			"keywords": echoKeywords(data),
		}
		input := map[string]any{}
		for name, p := range schemaProperties(req.Converse) {
			switch v, ok := values[name]; {
			case name == "action_items":
				input[name] = items.as(p.itemType)
			case ok:
				input[name] = v
			case p.typ == "array":
				input[name] = []string{}
			default:
				input[name] = ""
			}
		}
		raw, _ := json.Marshal(input)
		return toolReply("echo", req, raw, "tool_use")
	}
}

// Analysis answers with the forced tool called with exactly these fields.
// Action items are sent in the shape the tool's schema asks for: objects
// with the string as text and no owner or deadline, or plain strings.
func Analysis(summary string, actionItems, keywords []string) Behavior {
	return func(_ context.Context, req *Request) Response {
		if keywords == nil {
			keywords = []string{}
		}
		items := make(echoList, len(actionItems))
		for i, s := range actionItems {
			items[i] = Item{Text: s}
		}
		itemType := schemaProperties(req.Converse)["action_items"].itemType
		raw, _ := json.Marshal(map[string]any{"summary": summary, "action_items": items.as(itemType), "keywords": keywords})
		return toolReply("analysis", req, raw, "tool_use")
	}
}

// Item is one action item as the analysis tool's schema has the model
// write it.
type Item struct {
	Text    string `json:"text"`
	Owner   string `json:"owner"`
	DueText string `json:"due_text"`
}

// echoList is a list of items to send.
type echoList []Item

// as is the list in the shape a schema's items type asks for: objects, or
// the texts as strings.
func (l echoList) as(itemType string) any {
	if itemType == "object" {
		return append([]Item{}, l...)
	}
	out := make([]string, len(l))
	for i, it := range l {
		out[i] = it.Text
	}
	return out
}

// ToolInput answers with the forced tool called with raw as its input, which
// need not fit the schema: the way to script schema violations.
func ToolInput(raw string) Behavior {
	return func(_ context.Context, req *Request) Response {
		return toolReply("tool_input", req, json.RawMessage(raw), "tool_use")
	}
}

// Truncated answers as a model that ran out of maxTokens while writing the
// tool input: stopReason "max_tokens" with the (partial) input given.
func Truncated(raw string) Behavior {
	return func(_ context.Context, req *Request) Response {
		return toolReply("truncated", req, json.RawMessage(raw), "max_tokens")
	}
}

// Text answers with a plain text block and no tool call, as a model that
// ignored the forced tool would (stopReason "end_turn").
func Text(text string) Behavior {
	return func(context.Context, *Request) Response {
		return Response{Name: "text", Content: []ContentBlock{{Text: &text}}, StopReason: "end_turn"}
	}
}

// Error answers with a Bedrock error of the given type ("ThrottlingException",
// "ValidationException", …) at its real HTTP status. An empty message uses
// Bedrock's usual one.
func Error(errType, message string) Behavior {
	if message == "" {
		message = defaultMessages[errType]
	}
	if message == "" {
		message = errType
	}
	return func(context.Context, *Request) Response {
		return Response{Name: "error:" + errType, ErrorType: errType, Message: message}
	}
}

// WithUsage makes b report exactly these token counts as the reply's usage.
func WithUsage(inputTokens, outputTokens int, b Behavior) Behavior {
	return func(ctx context.Context, req *Request) Response {
		r := b(ctx, req)
		r.InputTokens, r.OutputTokens = inputTokens, outputTokens
		return r
	}
}

// Delay waits d (or until the client gives up) and then answers as b.
func Delay(d time.Duration, b Behavior) Behavior {
	return func(ctx context.Context, req *Request) Response {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return b(ctx, req)
	}
}

// Hang never answers: it waits until the client gives up, for timeout tests.
func Hang() Behavior {
	return func(ctx context.Context, req *Request) Response {
		<-ctx.Done()
		return Response{Name: "hang"}
	}
}

var defaultMessages = map[string]string{
	"ThrottlingException":           "Too many requests, please wait before trying again.",
	"ServiceUnavailableException":   "Bedrock is unable to process your request.",
	"InternalServerException":       "The server encountered an internal error while processing the request.",
	"ModelTimeoutException":         "Model has timed out in processing the request. Try your request again.",
	"ModelNotReadyException":        "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.",
	"ModelErrorException":           "The model produced an invalid sequence as part of ToolUse.",
	"ValidationException":           "The provided request is not valid",
	"AccessDeniedException":         "You don't have access to the model with the specified model ID.",
	"ResourceNotFoundException":     "Model not found. Please check the model identifier and try again.",
	"ServiceQuotaExceededException": "Your request exceeds the service quota for your account.",
}

// Chaos mixes failures into the answers at the given rates, deterministically
// for a seed: ThrottlingException, ModelTimeoutException, and a tool call
// whose input breaks the schema. The rest fall through to the default.
type Chaos struct {
	Throttle, Timeout, SchemaViolation float64
	Seed                               uint64
}

// Hook returns the function to give SetHook.
func (c Chaos) Hook() func(*Request) Behavior {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	return func(*Request) Behavior {
		mu.Lock()
		x := rng.Float64()
		mu.Unlock()
		switch {
		case x < c.Throttle:
			return Error("ThrottlingException", "")
		case x < c.Throttle+c.Timeout:
			return Error("ModelTimeoutException", "")
		case x < c.Throttle+c.Timeout+c.SchemaViolation:
			return ToolInput(`{"summary": 42, "action_items": "call Bob"}`)
		}
		return nil
	}
}

func toolReply(name string, req *Request, input json.RawMessage, stop string) Response {
	tool := req.Converse.ForcedTool()
	id := fmt.Sprintf("tooluse_fake%08d", req.Seq)
	return Response{Name: name, StopReason: stop, Content: []ContentBlock{{ToolUse: &ToolUse{ToolUseID: id, Name: tool, Input: input}}}}
}

// property is what the fake reads of one property of a tool's schema.
type property struct {
	typ      string // its JSON type
	itemType string // for an array, the type of its items
}

// schemaProperties lists the forced tool's top-level input properties with
// their JSON types.
func schemaProperties(c ConverseRequest) map[string]property {
	out := map[string]property{}
	spec := c.Tool(c.ForcedTool())
	if spec == nil {
		return out
	}
	var schema struct {
		Properties map[string]struct {
			Type  string `json:"type"`
			Items struct {
				Type string `json:"type"`
			} `json:"items"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(spec.InputSchema.JSON, &schema)
	for name, p := range schema.Properties {
		out[name] = property{typ: p.Type, itemType: p.Items.Type}
	}
	return out
}

var (
	outerElement = regexp.MustCompile(`(?s)<([A-Za-z_]+)[^>]*>(.*)</([A-Za-z_]+)>`)
	anyTag       = regexp.MustCompile(`</?[A-Za-z_]+[^>]*>`)
	sentenceEnd  = regexp.MustCompile(`[.!?](\s|$)`)
)

// fenced is the data inside the outermost element of the user text (the
// whole text when there is none), with inner tags removed.
func fenced(text string) string {
	if m := outerElement.FindStringSubmatch(text); m != nil {
		text = m[2]
	}
	return strings.TrimSpace(anyTag.ReplaceAllString(text, " "))
}

func echoSummary(data string) string {
	flat := strings.Join(strings.Fields(data), " ")
	cut := len(flat)
	if locs := sentenceEnd.FindAllStringIndex(flat, 2); len(locs) > 0 {
		cut = locs[len(locs)-1][0] + 1
	}
	s := flat[:cut]
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300])
	}
	if s == "" {
		s = "Empty conversation."
	}
	return "Echo: " + s
}

var (
	speakerPrefix = regexp.MustCompile(`^\s*([\p{Lu}][\p{L}]+):\s+`)
	willOwner     = regexp.MustCompile(`\b([\p{Lu}][\p{L}]+) will\b`)
	duePhrase     = regexp.MustCompile(`(?i)\b(?:(?:by|on|before|until|due)\s+(?:(?:next|this)\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|today|eod|end of (?:the )?(?:day|week|month)|\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2})|tomorrow|eod|next week)\b`)
)

func echoItems(data string) echoList {
	items := echoList{}
	for _, line := range strings.Split(data, "\n") {
		l := strings.ToLower(line)
		if !strings.Contains(l, "todo") && !strings.Contains(l, " will ") && !strings.Contains(l, "action:") {
			continue
		}
		line = strings.Join(strings.Fields(line), " ")
		it := Item{Text: line}
		if m := speakerPrefix.FindStringSubmatch(line); m != nil {
			it.Owner, it.Text = m[1], line[len(m[0]):]
		}
		if m := willOwner.FindStringSubmatch(it.Text); m != nil {
			it.Owner = m[1]
		}
		it.DueText = duePhrase.FindString(it.Text)
		items = append(items, it)
		if len(items) == 5 {
			break
		}
	}
	return items
}

var stopwords = map[string]bool{
	"that": true, "this": true, "with": true, "have": true, "will": true, "from": true, "they": true,
	"what": true, "when": true, "there": true, "their": true, "about": true, "would": true, "should": true,
	"could": true, "which": true, "your": true, "just": true, "then": true, "than": true, "into": true,
	"been": true, "were": true, "also": true, "some": true, "them": true, "like": true, "does": true,
}

func echoKeywords(data string) []string {
	counts := map[string]int{}
	for _, w := range strings.FieldsFunc(strings.ToLower(data), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) >= 4 && !stopwords[w] {
			counts[w]++
		}
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	if len(words) > 5 {
		words = words[:5]
	}
	return words
}

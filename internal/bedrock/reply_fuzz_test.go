package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"recall/internal/recall"
)

// cannedTransport answers every request with one fixed HTTP response, so a
// fuzzed reply goes through the SDK's real deserializer and then through the
// analyzer's validation, exactly as a reply from Bedrock would.
type cannedTransport struct {
	status    int
	errorType string
	body      []byte
}

func (c *cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{"Content-Type": {"application/json"}, "X-Amzn-Requestid": {"fuzz"}}
	if c.errorType != "" {
		h.Set("X-Amzn-Errortype", c.errorType)
	}
	return &http.Response{
		StatusCode: c.status, Status: http.StatusText(c.status), Header: h, Request: r,
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)),
	}, nil
}

// freeLimiter never waits, so a fuzzed throttle does not slow later inputs.
type freeLimiter struct{}

func (freeLimiter) Wait(context.Context, int) error  { return nil }
func (freeLimiter) Record(context.Context, int, int) {}
func (freeLimiter) Throttled(context.Context)        {}

// noDelay is production's retryer without its backoff sleeps, so a fuzzed
// 5xx costs the fuzzer a retry, not seconds.
type noDelay struct{ aws.Retryer }

func (noDelay) RetryDelay(int, error) (time.Duration, error) { return 0, nil }

// replyStatuses are the statuses a fuzzed reply is served with, picked by a
// fuzzed byte: success most often, then the error statuses Bedrock uses.
var replyStatuses = []int{200, 200, 200, 200, 400, 403, 404, 408, 424, 429, 500, 503}

// replySeed is one seed of FuzzModelReply.
type replySeed struct {
	status    uint8
	errorType string
	body      string
}

// goodReply is a reply that fits the schema.
const goodReply = `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_1","name":"record_analysis",` +
	`"input":{"summary":"The launch moves to March 14.","action_items":[{"text":"Rerun the load tests","owner":"Ben","due_text":"by Friday"}],"keywords":["launch","load tests"]}}}]}},` +
	`"stopReason":"tool_use","usage":{"inputTokens":120,"outputTokens":40,"totalTokens":160},"metrics":{"latencyMs":12}}`

// replySeeds are FuzzModelReply's seeds: a good reply, each way of
// breaking it the analyzer must refuse (every required field missing in
// turn among them), and Bedrock's errors.
var replySeeds = func() []replySeed {
	good := goodReply
	return []replySeed{
		{0, "", good},
		{0, "", strings.Replace(good, `"summary":"The launch moves to March 14."`, `"summary":42`, 1)},
		{0, "", strings.Replace(good, `[{"text":"Rerun the load tests","owner":"Ben","due_text":"by Friday"}]`, `"call Bob"`, 1)},
		{0, "", strings.Replace(good, `[{"text":"Rerun the load tests","owner":"Ben","due_text":"by Friday"}]`, `["Ben reruns the load tests by Friday"]`, 1)},
		{0, "", strings.Replace(good, `"tool_use"`, `"max_tokens"`, 1)},
		{0, "", strings.Replace(good, `record_analysis`, `something_else`, 1)},
		{0, "", `{"output":{"message":{"role":"assistant","content":[{"text":"Here is a poem."}]}},"stopReason":"end_turn"}`},
		{0, "", `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"record_analysis","input":null}}]}},"stopReason":"tool_use"}`},
		{0, "", `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"record_analysis","input":[1,2]}}]}},"stopReason":"tool_use"}`},
		{0, "", `{"output":{"SDK_UNKNOWN_MEMBER":{}},"stopReason":"tool_use"}`},
		{0, "", `{"output":{"message":{"content":[{"toolUse":{"name":"record_analysis","input":{"summary":"\u0000 \ud800 x","action_items":[` +
			`{"text":"- a","owner":"@Anna","due_text":"tomorrow"},{"text":"- A.","owner":"","due_text":""},{"text":"","owner":"x","due_text":"y"},` +
			`{"text":"` + strings.Repeat("long ", 200) + `","owner":"` + strings.Repeat("n", 90) + `","due_text":"\ud800"}],` +
			`"keywords":["#C#","C++",".NET","“q”","` + strings.Repeat("k", 80) + `"]}}}]}},"stopReason":"tool_use"}`},
		{0, "", strings.Replace(good, `,"keywords":["launch","load tests"]`, ``, 1)},
		{0, "", strings.Replace(good, `"action_items":[{"text":"Rerun the load tests","owner":"Ben","due_text":"by Friday"}],`, ``, 1)},
		{0, "", strings.Replace(good, `"owner":"Ben",`, ``, 1)},
		{0, "", strings.Replace(good, `,"due_text":"by Friday"`, ``, 1)},
		{0, "", strings.Replace(good, `"text":"Rerun the load tests",`, ``, 1)},
		{0, "", strings.Replace(good, `"owner":"Ben","due_text":"by Friday"`, `"owner":null,"due_text":null`, 1)},
		{0, "", strings.Replace(good, `"due_text":"by Friday"`, `"due_text":"2026-03-20"`, 1)},
		{0, "", `{}`},
		{0, "", `null`},
		{0, "", ``},
		{0, "", `{"output":`},
		{0, "", "\xff\xfe{"},
		{9, "ThrottlingException", `{"message":"Too many requests, please wait before trying again."}`},
		{11, "ServiceUnavailableException", `{"message":"Bedrock is unable to process your request."}`},
		{7, "ModelTimeoutException", `{"message":"Model has timed out in processing the request."}`},
		{4, "ValidationException", `{"message":"The provided model identifier is invalid."}`},
		{5, "AccessDeniedException", `{"message":"You don't have access to the model with the specified model ID."}`},
		{6, "ResourceNotFoundException", `{"message":"Model not found."}`},
		{8, "ModelErrorException", `{"Message":"The model produced an invalid sequence."}`},
		{4, "", `not json`},
		{4, "SomethingNewException:http://internal.amazon.com/coral/", `{"__type":"SomethingNewException","message":"?"}`},
	}
}()

// FuzzModelReply serves arbitrary bodies (and, for error statuses, arbitrary
// x-amzn-ErrorType codes) as Bedrock's answer to a Converse call and runs a
// full Analyze over them. Whatever the model or the service sends, the
// analyzer must not panic and must return either an analysis within the
// documented limits (non-blank summary, capped items and keywords, valid
// UTF-8, one call) made from a reply that held every field the schema
// requires, at every level (checked on the body itself, apart from the
// parser), or a described Recall error with a code the worker knows how to
// act on — never EINTERNAL, which would be reported as a bug.
func FuzzModelReply(f *testing.F) {
	for _, seed := range replySeeds {
		f.Add(seed.status, seed.errorType, []byte(seed.body))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, statusPick uint8, errorType string, body []byte) {
		tr := &cannedTransport{status: replyStatuses[int(statusPick)%len(replyStatuses)], body: body}
		if tr.status != 200 {
			tr.errorType = errorType
		}
		// Built directly rather than through NewClient so nothing in the
		// environment (profiles, CA bundles, endpoints) reaches the fuzzer;
		// the retryer is production's.
		client := bedrockruntime.New(bedrockruntime.Options{
			Region: "us-east-1", BaseEndpoint: aws.String("http://bedrock.fuzz.invalid"),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDFUZZ", "fuzz-secret", ""),
			HTTPClient:  &http.Client{Transport: tr}, Retryer: noDelay{NewRetryer()},
		})
		a := New(client, Options{Cache: NewMemoryCache(0), Limiter: freeLimiter{}})
		got, err := a.Analyze(ctx, recall.AnalysisInput{ConversationID: "01JFUZZ", Title: "Launch review", PostType: "meeting",
			Content: "Anna: the launch moves to March 14. Ben will rerun the load tests by Friday."})
		if err != nil {
			switch recall.ErrorCode(err) {
			case recall.EUNAVAILABLE, recall.ETHROTTLED, recall.EINVALID, recall.EPERMISSION:
			default:
				t.Fatalf("status %d %q body %q: error %v has code %s", tr.status, errorType, body, err, recall.ErrorCode(err))
			}
			if recall.ErrorMessage(err) == "" {
				t.Fatalf("error %v has no message", err)
			}
			if tr.status == 200 && recall.ErrorCode(err) != recall.EUNAVAILABLE {
				// A 200 that does not fit is the model's fault this time,
				// and a second call may fit: it must stay retryable.
				t.Fatalf("a 200 reply %q failed with %v, which the worker would not retry", body, err)
			}
			return
		}
		if tr.status != 200 {
			t.Fatalf("status %d answered with an analysis %+v", tr.status, got)
		}
		if strings.TrimSpace(got.Summary) == "" || utf8.RuneCountInString(got.Summary) > MaxSummaryChars || !utf8.ValidString(got.Summary) {
			t.Fatalf("summary %q breaks the limits", got.Summary)
		}
		if missing := missingFields(body); missing != "" {
			t.Fatalf("a reply without %s was accepted: %+v", missing, got)
		}
		checkList(t, "action item", got.ActionItems, MaxActionItems, MaxItemChars)
		checkList(t, "keyword", got.Keywords, MaxKeywords, MaxKeywordChars)
		checkItems(t, got.Items)
		if got.Calls != 1 || got.Model != DefaultModelID || got.Cached {
			t.Fatalf("analysis %+v: want one uncached call of %s", got, DefaultModelID)
		}
	})
}

func checkList(t *testing.T, what string, list []string, maxItems, maxChars int) {
	t.Helper()
	if len(list) > maxItems {
		t.Fatalf("%d %ss, limit %d", len(list), what, maxItems)
	}
	for _, s := range list {
		if strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > maxChars || !utf8.ValidString(s) {
			t.Fatalf("%s %q breaks the limits", what, s)
		}
	}
}

// checkItems holds the structured items to their limits: each with an ID
// made from its text, a non-blank text, an owner that is nil or not blank,
// and no more than MaxActionItems.
func checkItems(t *testing.T, items []recall.ActionItem) {
	t.Helper()
	if items == nil || len(items) > MaxActionItems {
		t.Fatalf("items %v: want a list of at most %d", items, MaxActionItems)
	}
	for _, it := range items {
		if strings.TrimSpace(it.Text) == "" || utf8.RuneCountInString(it.Text) > MaxItemChars || !utf8.ValidString(it.Text) || it.ID != recall.ItemID(it.Text) {
			t.Fatalf("item %+v breaks the limits", it)
		}
		if it.Owner != nil && (strings.TrimSpace(*it.Owner) == "" || utf8.RuneCountInString(*it.Owner) > MaxOwnerChars) {
			t.Fatalf("item %+v has a blank or overlong owner", it)
		}
		if it.Due != nil && !it.Due.Valid() || it.Done || it.DoneAt != nil {
			t.Fatalf("item %+v: invalid due date, or done before anyone ticked it", it)
		}
	}
}

// missingFields reads the record_analysis input out of a Converse reply body
// with encoding/json, apart from the SDK and the parser, and names the
// first field the analysis schema requires that it lacks, at any level
// ("keywords", "action_items[2].owner"); "" when it has them all. A field
// set to null counts as missing except an item's owner and due_text, where
// null means none.
func missingFields(body []byte) string {
	var reply struct {
		Output struct {
			Message struct {
				Content []struct {
					ToolUse *struct {
						Name  string         `json:"name"`
						Input map[string]any `json:"input"`
					} `json:"toolUse"`
				} `json:"content"`
			} `json:"message"`
		} `json:"output"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return "a readable body (" + err.Error() + ")"
	}
	for _, c := range reply.Output.Message.Content {
		if c.ToolUse != nil && c.ToolUse.Name == analyzeTool {
			return missingIn(c.ToolUse.Input, analyzeSchema, "")
		}
	}
	return "a record_analysis call"
}

func missingIn(obj map[string]any, schema map[string]any, prefix string) string {
	props, _ := schema["properties"].(map[string]any)
	for _, name := range schema["required"].([]string) {
		v, ok := obj[name]
		if !ok || v == nil && name != "owner" && name != "due_text" {
			return prefix + name
		}
		p, _ := props[name].(map[string]any)
		items, _ := p["items"].(map[string]any)
		if items == nil || items["type"] != "object" {
			continue
		}
		list, _ := v.([]any)
		for i, e := range list {
			m, _ := e.(map[string]any)
			if m == nil {
				return fmt.Sprintf("%s%s[%d] as an object", prefix, name, i)
			}
			if miss := missingIn(m, items, fmt.Sprintf("%s%s[%d].", prefix, name, i)); miss != "" {
				return miss
			}
		}
	}
	return ""
}

package bedrocktest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"recall/internal/bedrock/bedrocktest"
)

const haiku45 = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

// client returns an SDK client for s that makes a single attempt, so each
// Converse is exactly one request.
func client(t *testing.T, s *bedrocktest.Server, region string, creds aws.CredentialsProvider) *bedrockruntime.Client {
	t.Helper()
	if creds == nil {
		creds = s.Credentials()
	}
	return bedrockruntime.New(bedrockruntime.Options{
		Region: region, Credentials: creds, BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
	})
}

var schema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"summary":      map[string]any{"type": "string"},
		"action_items": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		"keywords":     map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	},
	"required": []string{"summary", "action_items", "keywords"},
}

func input(model, text string, forced bool) *bedrockruntime.ConverseInput {
	cfg := &types.ToolConfiguration{Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
		Name: aws.String("record_analysis"), InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)},
	}}}}
	if forced {
		cfg.ToolChoice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String("record_analysis")}}
	}
	return &bedrockruntime.ConverseInput{
		ModelId:         aws.String(model),
		System:          []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "Analyse."}},
		Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}}}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(1024), Temperature: aws.Float32(0)},
		ToolConfig:      cfg,
	}
}

func toolInput(t *testing.T, out *bedrockruntime.ConverseOutput) map[string]any {
	t.Helper()
	msg, ok := out.Output.(*types.ConverseOutputMemberMessage)
	if !ok {
		t.Fatalf("output is %T", out.Output)
	}
	for _, b := range msg.Value.Content {
		if tu, ok := b.(*types.ContentBlockMemberToolUse); ok {
			var m map[string]any
			if err := tu.Value.Input.UnmarshalSmithyDocument(&m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatal("no toolUse block")
	return nil
}

func TestEchoSpeaksTheWireProtocol(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	c := client(t, s, "us-east-1", nil)
	text := "<conversation>\nAnna: The release slips to Friday. Budget talks went well.\nBen: TODO: Ben updates the release notes by Thursday.\n</conversation>"
	for _, model := range []string{
		haiku45,
		"global.anthropic.claude-haiku-4-5-20251001-v1:0",
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0",
		"anthropic.claude-3-haiku-20240307-v1:0",
		"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0",
	} {
		out, err := c.Converse(context.Background(), input(model, text, true))
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if out.StopReason != types.StopReasonToolUse {
			t.Errorf("%s: stopReason %q", model, out.StopReason)
		}
		in := toolInput(t, out)
		if sum, _ := in["summary"].(string); !strings.Contains(sum, "The release slips to Friday.") {
			t.Errorf("%s: summary %q", model, sum)
		}
		if items, _ := in["action_items"].([]any); len(items) != 1 || !strings.Contains(items[0].(string), "Ben updates the release notes") {
			t.Errorf("%s: action_items %v", model, in["action_items"])
		}
		if kws, _ := in["keywords"].([]any); len(kws) == 0 || kws[0] != "release" {
			t.Errorf("%s: keywords %v", model, in["keywords"])
		}
		u := out.Usage
		if aws.ToInt32(u.InputTokens) <= 0 || aws.ToInt32(u.OutputTokens) <= 0 || aws.ToInt32(u.TotalTokens) != aws.ToInt32(u.InputTokens)+aws.ToInt32(u.OutputTokens) {
			t.Errorf("%s: usage %+v", model, *u)
		}
		if out.Metrics == nil || out.Metrics.LatencyMs == nil {
			t.Errorf("%s: no metrics", model)
		}
	}
	reqs := s.Requests()
	if len(reqs) != 5 || s.Calls() != 5 {
		t.Fatalf("recorded %d requests, %d calls; want 5", len(reqs), s.Calls())
	}
	if reqs[2].ModelID != "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0" {
		t.Errorf("ARN model id decoded as %q", reqs[2].ModelID)
	}
	r := reqs[0]
	if r.Region != "us-east-1" || r.AccessKeyID != bedrocktest.AccessKeyID || r.UserText() != text || r.SystemText() != "Analyse." {
		t.Errorf("request recorded as region %q key %q text %q system %q", r.Region, r.AccessKeyID, r.UserText(), r.SystemText())
	}
	if r.Converse.ForcedTool() != "record_analysis" || r.Converse.InferenceConfig == nil || *r.Converse.InferenceConfig.MaxTokens != 1024 {
		t.Errorf("request body decoded as %+v", r.Converse)
	}
}

func TestRefusesWhatBedrockRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		model   string
		region  string // signing region
		creds   aws.CredentialsProvider
		forced  bool
		text    string
		errType string
	}{
		{"wrong secret", haiku45, "us-east-1", credentials.NewStaticCredentialsProvider(bedrocktest.AccessKeyID, "not-the-secret", ""), true, "hi", "InvalidSignatureException"},
		{"unknown key", haiku45, "us-east-1", credentials.NewStaticCredentialsProvider("AKIDUNKNOWN", bedrocktest.SecretAccessKey, ""), true, "hi", "UnrecognizedClientException"},
		{"wrong region", haiku45, "eu-west-1", nil, true, "hi", "InvalidSignatureException"},
		{"bare 4.5 id is not on-demand", "anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1", nil, true, "hi", "ValidationException"},
		{"unknown model", "us.anthropic.claude-nonexistent-v1:0", "us-east-1", nil, true, "hi", "ValidationException"},
		{"tool not forced", haiku45, "us-east-1", nil, false, "hi", "ValidationException"},
		{"blank content", haiku45, "us-east-1", nil, true, "   ", "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := bedrocktest.NewServer(t, bedrocktest.Options{})
			c := client(t, s, tt.region, tt.creds)
			_, err := c.Converse(context.Background(), input(tt.model, tt.text, tt.forced))
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.errType {
				t.Fatalf("err = %v, want %s", err, tt.errType)
			}
			if v := s.TakeViolations(); len(v) != 1 {
				t.Errorf("violations = %q, want one", v)
			}
			if s.Calls() != 0 {
				t.Errorf("a refused request counted as a model call")
			}
		})
	}
}

func TestSignatureCoversTheBody(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"t","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"tool":{"name":"t"}}}}`)
	send := func(sent []byte, hashHeader bool) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse", bytes.NewReader(sent))
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256(body)
		if hashHeader {
			req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		}
		creds := aws.Credentials{AccessKeyID: bedrocktest.AccessKeyID, SecretAccessKey: bedrocktest.SecretAccessKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "bedrock", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		req.Body = ioNop(sent)
		req.ContentLength = int64(len(sent))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send(body, false); got != http.StatusOK {
		t.Fatalf("signed request: status %d", got)
	}
	if got := send(body, true); got != http.StatusOK {
		t.Fatalf("signed request with payload hash header: status %d", got)
	}
	tampered := bytes.Replace(body, []byte(`"hi"`), []byte(`"ho"`), 1)
	if got := send(tampered, false); got != http.StatusForbidden {
		t.Fatalf("tampered body: status %d, want 403", got)
	}
	if got := send(tampered, true); got != http.StatusForbidden {
		t.Fatalf("tampered body with stale hash header: status %d, want 403", got)
	}
	if v := s.TakeViolations(); len(v) != 2 {
		t.Errorf("violations = %q, want the two tampered requests", v)
	}
}

func TestErrorsHaveBedrocksShape(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	c := client(t, s, "us-east-1", nil)
	for errType, status := range map[string]int{
		"ThrottlingException": 429, "ValidationException": 400, "AccessDeniedException": 403,
		"InternalServerException": 500, "ServiceUnavailableException": 503, "ModelErrorException": 424,
		"ModelTimeoutException": 408, "ModelNotReadyException": 429, "ResourceNotFoundException": 404,
	} {
		s.Enqueue(bedrocktest.Error(errType, "scripted "+errType))
		_, err := c.Converse(context.Background(), input(haiku45, "hi", true))
		var apiErr smithy.APIError
		var respErr *smithyhttp.ResponseError
		if !errors.As(err, &apiErr) || !errors.As(err, &respErr) {
			t.Fatalf("%s: err %T %v", errType, err, err)
		}
		if apiErr.ErrorCode() != errType || apiErr.ErrorMessage() != "scripted "+errType || respErr.HTTPStatusCode() != status {
			t.Errorf("%s: got code %q message %q status %d, want status %d", errType, apiErr.ErrorCode(), apiErr.ErrorMessage(), respErr.HTTPStatusCode(), status)
		}
		// The SDK decodes modelled errors into their own types.
		if errType == "ThrottlingException" {
			var te *types.ThrottlingException
			if !errors.As(err, &te) {
				t.Errorf("ThrottlingException decoded as %T", err)
			}
		}
	}
	for _, r := range s.Requests() {
		if r.Status == 200 || r.ErrorType == "" {
			t.Errorf("request %d recorded as status %d type %q", r.Seq, r.Status, r.ErrorType)
		}
	}
}

func TestScriptedReplies(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	c := client(t, s, "us-east-1", nil)
	s.Enqueue(
		bedrocktest.Analysis("Given.", []string{"Do it"}, nil),
		bedrocktest.ToolInput(`{"summary": 42}`),
		bedrocktest.Truncated(`{"summary": "Cut`+`"}`),
		bedrocktest.Text("A poem, as you asked."),
	)
	out, err := c.Converse(context.Background(), input(haiku45, "hi", true))
	if err != nil {
		t.Fatal(err)
	}
	if in := toolInput(t, out); in["summary"] != "Given." || len(in["keywords"].([]any)) != 0 {
		t.Errorf("analysis reply input %v", in)
	}
	out, _ = c.Converse(context.Background(), input(haiku45, "hi", true))
	if in := toolInput(t, out); fmt.Sprint(in["summary"]) != "42" {
		t.Errorf("tool input reply %v (%T)", in, in["summary"])
	}
	out, _ = c.Converse(context.Background(), input(haiku45, "hi", true))
	if out.StopReason != types.StopReasonMaxTokens {
		t.Errorf("truncated reply stopReason %q", out.StopReason)
	}
	out, _ = c.Converse(context.Background(), input(haiku45, "hi", true))
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	if _, ok := msg.Content[0].(*types.ContentBlockMemberText); !ok || out.StopReason != types.StopReasonEndTurn {
		t.Errorf("text reply %T %q", msg.Content[0], out.StopReason)
	}
	got := []string{}
	for _, r := range s.Requests() {
		got = append(got, r.Behavior)
	}
	if strings.Join(got, ",") != "analysis,tool_input,truncated,text" {
		t.Errorf("behaviours %v", got)
	}
}

func TestHangEndsWhenTheClientGivesUp(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	c := client(t, s, "us-east-1", nil)
	s.Enqueue(bedrocktest.Hang())
	// Long enough for the request to reach the server on a loaded machine:
	// a client that gives up before sending leaves nothing to record.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Converse(ctx, input(haiku45, "hi", true)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	// The handler notices the client left and records the request.
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r := s.Requests(); len(r) != 1 || r[0].ErrorType != "ClientGone" {
		t.Errorf("requests %+v", r)
	}
}

func TestChaosRatesAreDeterministic(t *testing.T) {
	t.Parallel()
	const n = 4000
	count := func(seed uint64) map[string]int {
		hook := bedrocktest.Chaos{Throttle: 0.30, Timeout: 0.05, SchemaViolation: 0.05, Seed: seed}.Hook()
		got := map[string]int{}
		req := &bedrocktest.Request{}
		for range n {
			b := hook(req)
			if b == nil {
				got["default"]++
				continue
			}
			got[b(context.Background(), req).Name]++
		}
		return got
	}
	a, b := count(7), count(7)
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("same seed, different draws: %v vs %v", a, b)
		}
	}
	for name, want := range map[string]float64{"error:ThrottlingException": 0.30, "error:ModelTimeoutException": 0.05, "tool_input": 0.05, "default": 0.60} {
		if got := float64(a[name]) / n; got < want-0.03 || got > want+0.03 {
			t.Errorf("%s: rate %.3f, want %.2f±0.03", name, got, want)
		}
	}
}

func ioNop(b []byte) *nopCloser { return &nopCloser{bytes.NewReader(b)} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

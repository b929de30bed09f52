// Package bedrocktest runs a fake Amazon Bedrock Runtime for tests: an
// httptest server that speaks the real wire protocol of the Converse
// operation (restJson1, POST /model/{modelId}/converse) so the real AWS SDK
// client can be pointed at it with BaseEndpoint.
//
// Every request is checked the way Bedrock would check it, and then some: the
// SigV4 signature is recomputed with the known test secret key (service
// "bedrock", the expected region), the body must parse, the model must be one
// the fake knows, maxTokens must fit the model, and the analyzer's own
// contract is enforced: a tool must be forced (toolChoice.tool naming a tool
// in toolConfig) and the user message must carry text. A request that fails a
// check gets the error Bedrock would send and is recorded as a violation; the
// test fails at cleanup unless it took the violations with TakeViolations.
//
// Answers are scriptable: a queue of canned behaviours (Enqueue), a hook that
// picks one per request (SetHook, e.g. Chaos), and a default that echoes a
// deterministic analysis made from the content. Every request is recorded
// (Requests) so tests can count model calls and tokens.
package bedrocktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Test credentials. The fake verifies signatures made with exactly these, so
// a client built from Credentials() (or these values) is accepted and any
// other key is refused as Bedrock would refuse it.
const (
	AccessKeyID     = "AKIDRECALLTEST000001"
	SecretAccessKey = "recallTestSecretKey/notARealOne+0000000000"
	DefaultRegion   = "us-east-1"
)

// Options configures a Server. The zero value expects requests signed with
// AccessKeyID/SecretAccessKey for DefaultRegion and echoes an analysis.
type Options struct {
	// Region the signature's credential scope must name.
	Region string
	// AccessKeyID and SecretAccessKey the signature must be made with.
	AccessKeyID, SecretAccessKey string
	// BearerToken, if set, is also accepted as "Authorization: Bearer …", the
	// Bedrock API key scheme (AWS_BEARER_TOKEN_BEDROCK).
	BearerToken string
	// TLS serves HTTPS with a self-signed certificate; clients must use
	// HTTPClient(). The SDK sends bearer tokens only over HTTPS.
	TLS bool
	// Default answers requests when the queue is empty and the hook (if any)
	// returns nil. Nil means Echo().
	Default Behavior
}

// Server is a running fake Bedrock Runtime endpoint.
type Server struct {
	// URL is the endpoint to give the client as BaseEndpoint.
	URL string

	opts   Options
	ts     *httptest.Server
	signer *v4.Signer

	mu         sync.Mutex
	queue      []Behavior
	hook       func(*Request) Behavior
	requests   []Request
	violations []string
	seq        int
}

// NewServer starts a fake on a free loopback port and stops it when the test
// ends. At cleanup the test fails if any request broke the checks described
// in the package doc and the test did not take those violations.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AccessKeyID == "" {
		opts.AccessKeyID = AccessKeyID
	}
	if opts.SecretAccessKey == "" {
		opts.SecretAccessKey = SecretAccessKey
	}
	if opts.Default == nil {
		opts.Default = Echo()
	}
	s := &Server{opts: opts, signer: v4.NewSigner()}
	t.Cleanup(func() {
		if v := s.TakeViolations(); len(v) > 0 {
			t.Errorf("bedrocktest: %d request(s) failed the fake's checks:\n  %s", len(v), strings.Join(v, "\n  "))
		}
	})
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if opts.TLS {
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	t.Cleanup(s.ts.Close)
	s.URL = s.ts.URL
	return s
}

// Credentials returns a static provider with the keys the fake verifies.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.opts.AccessKeyID, s.opts.SecretAccessKey, "")
}

// HTTPClient returns an HTTP client for the server (one that trusts its
// certificate when it serves TLS).
func (s *Server) HTTPClient() *http.Client { return s.ts.Client() }

// Region is the region requests must be signed for.
func (s *Server) Region() string { return s.opts.Region }

// Enqueue adds behaviours answered, in order, to the next requests (before the
// hook and the default).
func (s *Server) Enqueue(b ...Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, b...)
}

// SetHook installs a function that picks the behaviour for each request the
// queue does not answer; it may return nil for the default. Chaos(…).Hook is
// one. Nil removes the hook.
func (s *Server) SetHook(h func(*Request) Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

// Requests returns a copy of every request received so far, in order,
// including refused ones.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Calls counts requests that reached the model: those answered with a
// Converse reply (not with an error).
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// Reset forgets recorded requests, queued behaviours and the hook.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.queue, s.hook = nil, nil, nil
}

// TakeViolations returns and clears the failed checks recorded so far, for
// tests that send bad requests on purpose.
func (s *Server) TakeViolations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.violations
	s.violations = nil
	return v
}

// Request is one request as the fake received and judged it.
type Request struct {
	Seq         int
	ModelID     string // path parameter, unescaped
	Region      string // from the SigV4 credential scope
	AccessKeyID string
	Header      http.Header
	Body        []byte
	Converse    ConverseRequest
	// Behavior names what answered it: "echo", "analysis", "error:ThrottlingException", …
	Behavior string
	Status   int
	// ErrorType is the x-amzn-ErrorType code of an error answer.
	ErrorType string
	// InputTokens and OutputTokens are what the answer reported as usage.
	InputTokens, OutputTokens int
}

// UserText is the text the model was asked to read (see ConverseRequest).
func (r Request) UserText() string { return r.Converse.UserText() }

// SystemText is the request's system prompt.
func (r Request) SystemText() string { return r.Converse.SystemText() }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req := Request{Header: r.Header.Clone(), Body: body}
	s.mu.Lock()
	s.seq++
	req.Seq = s.seq
	s.mu.Unlock()

	finish := func(status int, errType string) {
		req.Status, req.ErrorType = status, errType
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}
	refuse := func(status int, errType, msg string, violation bool) {
		if violation {
			s.violate(fmt.Sprintf("#%d %s %s: %s: %s", req.Seq, r.Method, r.URL.EscapedPath(), errType, msg))
		}
		writeError(w, status, errType, msg)
		finish(status, errType)
	}

	if status, typ, msg := s.check(r, body, &req); status != 0 {
		refuse(status, typ, msg, true)
		return
	}

	b := s.next(&req)
	resp := b(r.Context(), &req)
	if r.Context().Err() != nil {
		finish(0, "ClientGone")
		return
	}
	req.Behavior = resp.Name
	if req.Behavior == "" {
		req.Behavior = "custom"
	}
	if resp.ErrorType != "" {
		status := resp.Status
		if status == 0 {
			status = StatusFor(resp.ErrorType)
		}
		writeError(w, status, resp.ErrorType, resp.Message)
		finish(status, resp.ErrorType)
		return
	}
	writeReply(w, &req, resp, len(body), start)
	finish(http.StatusOK, "")
}

// writeReply sends resp as a Converse reply to req, whose body was
// bodyLen bytes, with the usage it reports (counted from the sizes where
// resp leaves it zero) recorded on req.
func writeReply(w http.ResponseWriter, req *Request, resp Response, bodyLen int, start time.Time) {
	out := converseResponse{StopReason: resp.StopReason}
	out.Output.Message = Message{Role: "assistant", Content: resp.Content}
	in, outTok := resp.InputTokens, resp.OutputTokens
	if in == 0 {
		in = EstimateTokens(bodyLen)
	}
	if outTok == 0 {
		n := 0
		for _, c := range resp.Content {
			if c.Text != nil {
				n += len(*c.Text)
			}
			if c.ToolUse != nil {
				n += len(c.ToolUse.Input) + len(c.ToolUse.Name)
			}
		}
		outTok = EstimateTokens(n)
	}
	out.Usage.InputTokens, out.Usage.OutputTokens, out.Usage.TotalTokens = in, outTok, in+outTok
	out.Metrics.LatencyMs = time.Since(start).Milliseconds()
	req.InputTokens, req.OutputTokens = in, outTok
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("00000000-0000-4000-8000-%012d", req.Seq))
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

// check routes, authenticates, decodes and validates a request as Bedrock
// would, filling req; a non-zero status comes with the error Bedrock would
// send.
func (s *Server) check(r *http.Request, body []byte, req *Request) (int, string, string) {
	// Route: POST /model/{modelId}/converse, modelId escaped as one segment.
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if len(segs) != 3 || segs[0] != "model" || segs[2] != "converse" {
		return http.StatusNotFound, "UnknownOperationException", "unknown operation " + r.URL.EscapedPath()
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "UnknownOperationException", "method " + r.Method
	}
	modelID, err := url.PathUnescape(segs[1])
	if err != nil {
		return http.StatusBadRequest, "ValidationException", "bad model id escaping"
	}
	req.ModelID = modelID
	if status, typ, msg := s.authenticate(r, body, req); status != 0 {
		return status, typ, msg
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return http.StatusUnsupportedMediaType, "UnsupportedMediaTypeException", "content type " + ct
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&req.Converse); err != nil {
		return http.StatusBadRequest, "SerializationException", "body is not a Converse request: " + err.Error()
	}
	if msg := checkConverse(modelID, req.Converse); msg != "" {
		return http.StatusBadRequest, "ValidationException", msg
	}
	return 0, "", ""
}

// EstimateTokens is the fake's token count for n bytes of request or reply:
// about four bytes a token, rounded up. Real models count differently; tests
// assert on what the fake reported, never on a real tokenizer.
func EstimateTokens(n int) int { return (n + 3) / 4 }

func (s *Server) next(req *Request) Behavior {
	s.mu.Lock()
	if len(s.queue) > 0 {
		b := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		return b
	}
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		if b := hook(req); b != nil {
			return b
		}
	}
	return s.opts.Default
}

func (s *Server) violate(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, v)
}

// authenticate checks the request's SigV4 signature (or bearer token) and
// returns a non-zero status with Bedrock's error when it does not hold.
func (s *Server) authenticate(r *http.Request, body []byte, req *Request) (int, string, string) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"
	}
	if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
		if s.opts.BearerToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.BearerToken)) != 1 {
			return http.StatusForbidden, "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix"
		}
		req.Region = s.opts.Region
		return 0, "", ""
	}
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(authz, algo) {
		return http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires AWS4-HMAC-SHA256"
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(authz, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return http.StatusBadRequest, "IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature"
	}
	akid, date, region, service, term := scope[0], scope[1], scope[2], scope[3], scope[4]
	req.AccessKeyID, req.Region = akid, region
	if akid != s.opts.AccessKeyID {
		return http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if service != "bedrock" || term != "aws4_request" {
		return http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to correct service: 'bedrock', not %q.", service)
	}
	if region != s.opts.Region {
		return http.StatusForbidden, "InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not %q; this endpoint serves %q.", region, s.opts.Region)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signingTime, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, date) {
		return http.StatusForbidden, "InvalidSignatureException", "X-Amz-Date is missing or does not match the credential scope date"
	}
	if d := time.Since(signingTime); d > 15*time.Minute || d < -15*time.Minute {
		return http.StatusForbidden, "InvalidSignatureException", "Signature expired: the request time is more than 15 minutes from the server time"
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return http.StatusForbidden, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed."
	}

	// Rebuild the request with only the signed headers and sign it again.
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	again := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}, ContentLength: r.ContentLength}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		if vs := r.Header.Values(h); len(vs) > 0 {
			again.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	creds := aws.Credentials{AccessKeyID: s.opts.AccessKeyID, SecretAccessKey: s.opts.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := s.signer.SignHTTP(context.Background(), creds, again, payloadHash, "bedrock", region, signingTime); err != nil {
		return http.StatusInternalServerError, "InternalServerException", "fake could not sign: " + err.Error()
	}
	want := again.Header.Get("Authorization")
	_, wantSig, _ := strings.Cut(want, "Signature=")
	if subtle.ConstantTimeCompare([]byte(wantSig), []byte(fields["Signature"])) != 1 {
		return http.StatusForbidden, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	if !strings.Contains(want, "SignedHeaders="+fields["SignedHeaders"]+",") {
		return http.StatusForbidden, "InvalidSignatureException", "signed header list differs: client " + fields["SignedHeaders"] + ", fake " + want
	}
	return 0, "", ""
}

// checkConverse validates the body as Bedrock would (model, maxTokens,
// messages) and as the analyzer promises (a forced tool, non-blank text).
func checkConverse(modelID string, c ConverseRequest) string {
	m, msg := lookupModel(modelID)
	if msg != "" {
		return msg
	}
	if len(c.Messages) == 0 {
		return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	}
	if c.Messages[0].Role != "user" {
		return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	}
	for i, msg := range c.Messages {
		if len(msg.Content) == 0 {
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for j, b := range msg.Content {
			if b.Text != nil && strings.TrimSpace(*b.Text) == "" {
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			}
		}
	}
	if strings.TrimSpace(c.UserText()) == "" {
		return "the user message carries no text (the conversation is missing)"
	}
	if ic := c.InferenceConfig; ic != nil && ic.MaxTokens != nil {
		if *ic.MaxTokens < 1 {
			return "The maximum tokens you requested must be at least 1."
		}
		if *ic.MaxTokens > m.maxOutput {
			return fmt.Sprintf("The maximum tokens you requested exceeds the model limit of %d. Try again with a maximum tokens value that is lower than %d.", m.maxOutput, m.maxOutput)
		}
	}
	if c.ToolConfig == nil || len(c.ToolConfig.Tools) == 0 {
		return "no toolConfig: the analyzer must offer its tool"
	}
	for i, t := range c.ToolConfig.Tools {
		if t.ToolSpec == nil || t.ToolSpec.Name == "" || len(t.ToolSpec.InputSchema.JSON) == 0 {
			return fmt.Sprintf("toolConfig.tools.%d: a toolSpec with a name and inputSchema.json is required", i)
		}
		var schema map[string]any
		if err := json.Unmarshal(t.ToolSpec.InputSchema.JSON, &schema); err != nil || schema["type"] != "object" {
			return fmt.Sprintf("toolConfig.tools.%d.toolSpec.inputSchema: the schema must be a JSON object of type \"object\"", i)
		}
		if t.ToolSpec.Strict != nil && *t.ToolSpec.Strict && !m.strict {
			return fmt.Sprintf("toolConfig.tools.%d.toolSpec.strict: this model does not support structured outputs", i)
		}
	}
	name := c.ForcedTool()
	if name == "" {
		return "toolChoice does not force a tool: the analyzer must set toolChoice.tool"
	}
	if c.Tool(name) == nil {
		return fmt.Sprintf("toolChoice.tool.name %q is not one of the tools in toolConfig", name)
	}
	return ""
}

// model is what the fake knows of a model.
type model struct {
	maxOutput int
	onDemand  bool // callable by its bare ID, without an inference profile
	strict    bool // supports strict tool use (structured outputs)
}

// models are the foundation models the fake serves, by bare model ID.
var models = map[string]model{
	"anthropic.claude-3-haiku-20240307-v1:0":    {maxOutput: 4096, onDemand: true},
	"anthropic.claude-3-5-haiku-20241022-v1:0":  {maxOutput: 8192, onDemand: true},
	"anthropic.claude-haiku-4-5-20251001-v1:0":  {maxOutput: 64000, strict: true},
	"anthropic.claude-sonnet-4-5-20250929-v1:0": {maxOutput: 64000, strict: true},
}

// profilePrefixes are the geographic and global inference profile prefixes.
var profilePrefixes = []string{"us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global."}

// lookupModel resolves a model ID, inference profile ID or ARN of either.
func lookupModel(id string) (model, string) {
	bare, profile := id, false
	if strings.HasPrefix(id, "arn:") {
		i := strings.LastIndex(id, "/")
		if i < 0 {
			return model{}, "The provided model identifier is invalid."
		}
		profile = strings.Contains(id[:i], ":inference-profile") || strings.Contains(id[:i], ":application-inference-profile")
		bare = id[i+1:]
	}
	for _, p := range profilePrefixes {
		if rest, ok := strings.CutPrefix(bare, p); ok {
			bare, profile = rest, true
			break
		}
	}
	m, ok := models[bare]
	if !ok {
		return model{}, "The provided model identifier is invalid."
	}
	if !profile && !m.onDemand {
		return model{}, fmt.Sprintf("Invocation of model ID %s with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model.", bare)
	}
	return m, ""
}

// statuses are the HTTP statuses Bedrock Runtime's model gives its errors.
var statuses = map[string]int{
	"AccessDeniedException":         http.StatusForbidden,
	"ConflictException":             http.StatusBadRequest,
	"InternalServerException":       http.StatusInternalServerError,
	"ModelErrorException":           http.StatusFailedDependency,
	"ModelNotReadyException":        http.StatusTooManyRequests,
	"ModelTimeoutException":         http.StatusRequestTimeout,
	"ResourceNotFoundException":     http.StatusNotFound,
	"ServiceQuotaExceededException": http.StatusBadRequest,
	"ServiceUnavailableException":   http.StatusServiceUnavailable,
	"ThrottlingException":           http.StatusTooManyRequests,
	"ValidationException":           http.StatusBadRequest,
	// Front-door errors, outside the service model.
	"UnrecognizedClientException":         http.StatusForbidden,
	"InvalidSignatureException":           http.StatusForbidden,
	"MissingAuthenticationTokenException": http.StatusForbidden,
	"ExpiredTokenException":               http.StatusForbidden,
}

// StatusFor is the HTTP status Bedrock sends with an error type (500 for an
// unknown one).
func StatusFor(errType string) int {
	if s, ok := statuses[errType]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// writeError answers in Bedrock's error format: the type in x-amzn-ErrorType
// with the coral namespace suffix, the message in a JSON body.
func writeError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", errType+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

package bedrocktest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"recall/internal/testenv/sigv4"
)

// TitanEmbedV2 is the model the embedding fake serves.
const TitanEmbedV2 = "amazon.titan-embed-text-v2:0"

// Titan Text Embeddings V2's input limits: 8,192 tokens and 50,000
// characters; the fake enforces the characters and counts tokens with
// EstimateTokens.
const (
	TitanMaxChars  = 50_000
	TitanMaxTokens = 8_192
)

// EmbedServer is a fake Bedrock Runtime that speaks InvokeModel
// (restJson1, POST /model/{modelId}/invoke) for Amazon Titan Text
// Embeddings V2, checking the SigV4 signature (service "bedrock") and the
// body as Bedrock would: {"inputText", "dimensions", "normalize"} in,
// {"embedding", "inputTextTokenCount"} out. It is a server of its own, not
// a route of Server, so the Converse fake stays as it is.
//
// The embedding is Embed: deterministic, and close for texts that share
// words or concepts, so semantic tests mean something.
type EmbedServer struct {
	URL string

	region string
	ts     *httptest.Server

	mu         sync.Mutex
	fail       []string
	inputs     []string
	violations []string
}

// NewEmbedServer starts the fake on a free loopback port for region
// (DefaultRegion when empty), accepting AccessKeyID/SecretAccessKey, and
// stops it when the test ends. The test fails at cleanup if a request broke
// the checks.
func NewEmbedServer(t testing.TB, region string) *EmbedServer {
	t.Helper()
	if region == "" {
		region = DefaultRegion
	}
	s := &EmbedServer{region: region}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t.Cleanup(func() {
		s.ts.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.violations) > 0 {
			t.Errorf("bedrocktest: %d embedding request(s) failed the fake's checks:\n  %s", len(s.violations), strings.Join(s.violations, "\n  "))
		}
	})
	return s
}

// Fail makes the next requests answer with these Bedrock error types
// ("ThrottlingException", "AccessDeniedException", …), one each, in order.
func (s *EmbedServer) Fail(errTypes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, errTypes...)
}

// Inputs returns the inputText of every request answered with an
// embedding, in order: how a test counts model calls.
func (s *EmbedServer) Inputs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.inputs...)
}

// TakeViolations returns and clears the failed checks, for tests that send
// bad requests on purpose.
func (s *EmbedServer) TakeViolations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.violations
	s.violations = nil
	return v
}

type titanRequest struct {
	InputText      *string  `json:"inputText"`
	Dimensions     *int     `json:"dimensions,omitempty"`
	Normalize      *bool    `json:"normalize,omitempty"`
	EmbeddingTypes []string `json:"embeddingTypes,omitempty"`
}

// serve answers one InvokeModel request: the call is checked (route,
// signature, model, content type) before any injected failure, which
// stands in for the service failing a valid call, and the body after it.
// Every refusal is recorded as a violation.
func (s *EmbedServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if status, typ, msg := s.checkCall(r, body); status != 0 {
		s.refuse(w, r, status, typ, msg)
		return
	}
	if typ := s.takeFailure(); typ != "" {
		msg := defaultMessages[typ]
		if msg == "" {
			msg = typ
		}
		writeError(w, StatusFor(typ), typ, msg)
		return
	}
	req, status, typ, msg := decodeTitan(body)
	if status != 0 {
		s.refuse(w, r, status, typ, msg)
		return
	}
	s.answer(w, req)
}

// refuse answers with Bedrock's error and records the request as a
// violation: the fake refuses only what a correct client never sends, so
// the test fails unless it meant to send it.
func (s *EmbedServer) refuse(w http.ResponseWriter, r *http.Request, status int, typ, msg string) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf("%s %s: %s: %s", r.Method, r.URL.EscapedPath(), typ, msg))
	s.mu.Unlock()
	writeError(w, status, typ, msg)
}

// checkCall checks what Bedrock checks before reading the body: that the
// request is an InvokeModel of TitanEmbedV2, signed for the fake's region
// with the test key, carrying JSON. It returns a non-zero status with
// Bedrock's error when one does not hold.
func (s *EmbedServer) checkCall(r *http.Request, body []byte) (int, string, string) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if len(segs) != 3 || segs[0] != "model" || segs[2] != "invoke" || r.Method != http.MethodPost {
		return http.StatusNotFound, "UnknownOperationException", "unknown operation " + r.Method + " " + r.URL.EscapedPath()
	}
	if ref := sigv4.Check(r, body, sigv4.Expect{Service: "bedrock", Region: s.region, AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}); ref != nil {
		return ref.Status, ref.Code, ref.Message
	}
	if model, _ := url.PathUnescape(segs[1]); model != TitanEmbedV2 {
		return http.StatusBadRequest, "ValidationException", "The provided model identifier is invalid."
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return http.StatusUnsupportedMediaType, "UnsupportedMediaTypeException", "content type " + ct
	}
	return 0, "", ""
}

// takeFailure returns the next error type Fail asked for, or "".
func (s *EmbedServer) takeFailure() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var typ string
	if len(s.fail) > 0 {
		typ, s.fail = s.fail[0], s.fail[1:]
	}
	return typ
}

// decodeTitan reads a Titan request body strictly and checks it against
// Titan's input limits and its dimension choices, with the messages
// Bedrock sends. It returns a non-zero status with the error when the body
// does not pass.
func decodeTitan(body []byte) (titanRequest, int, string, string) {
	var req titanRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, http.StatusBadRequest, "ValidationException", "Malformed input request: " + err.Error()
	}
	switch {
	case req.InputText == nil || strings.TrimSpace(*req.InputText) == "":
		return req, http.StatusBadRequest, "ValidationException", "Malformed input request: #: required key [inputText] not found or empty"
	case len([]rune(*req.InputText)) > TitanMaxChars:
		return req, http.StatusBadRequest, "ValidationException", fmt.Sprintf("Malformed input request: #/inputText: expected maxLength: %d, actual: %d", TitanMaxChars, len([]rune(*req.InputText)))
	case EstimateTokens(len(*req.InputText)) > TitanMaxTokens:
		return req, http.StatusBadRequest, "ValidationException", fmt.Sprintf("400 Bad Request: Too many input tokens. Max input tokens: %d, request input token count: %d", TitanMaxTokens, EstimateTokens(len(*req.InputText)))
	}
	if dims := req.dims(); dims != 256 && dims != 512 && dims != 1024 {
		return req, http.StatusBadRequest, "ValidationException", fmt.Sprintf("Malformed input request: #/dimensions: %d is not a valid enum value", dims)
	}
	return req, 0, "", ""
}

// dims is the vector length asked for; Titan V2 defaults to 1,024.
func (r titanRequest) dims() int {
	if r.Dimensions != nil {
		return *r.Dimensions
	}
	return 1024
}

// answer embeds a checked request's text and replies as Titan does, the
// token count in the body and in a header, and records the input so a
// test can count model calls.
func (s *EmbedServer) answer(w http.ResponseWriter, req titanRequest) {
	vec := Embed(*req.InputText, req.dims())
	if req.Normalize != nil && !*req.Normalize {
		for i := range vec {
			vec[i] *= 7.5 // Titan's unnormalised vectors are not unit length
		}
	}
	s.mu.Lock()
	s.inputs = append(s.inputs, *req.InputText)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", fmt.Sprint(EstimateTokens(len(*req.InputText))))
	_ = json.NewEncoder(w).Encode(map[string]any{
		"embedding":           vec,
		"inputTextTokenCount": EstimateTokens(len(*req.InputText)),
	})
}

// concepts maps words to a shared concept, so texts that say the same
// thing in different words embed close together, as a real model's would.
var concepts = func() map[string]string {
	m := map[string]string{}
	for _, group := range [][]string{
		{"outage", "downtime", "incident", "failure", "unavailable", "broke"},
		{"hire", "hiring", "recruit", "candidate", "interview", "offer"},
		{"cost", "spend", "spending", "bill", "budget", "savings", "price"},
		{"holiday", "vacation", "trip", "travel", "offsite", "abroad"},
		{"leave", "leaving", "churn", "quit", "lose"},
		{"monitor", "monitoring", "observability", "dashboard", "metric"},
		{"slow", "latency", "performance", "p99", "regression"},
		{"database", "db", "postgres", "sql"},
		{"security", "vulnerability", "pentest", "xss", "leak"},
	} {
		for _, w := range group {
			m[w] = group[0]
		}
	}
	return m
}()

var embedStop = map[string]bool{
	"a": true, "an": true, "the": true, "and": true, "or": true, "of": true, "to": true, "in": true, "on": true,
	"for": true, "is": true, "are": true, "was": true, "we": true, "it": true, "with": true, "at": true, "by": true,
	"be": true, "this": true, "that": true, "from": true, "as": true, "our": true, "us": true, "who": true, "what": true,
}

// fakeStem strips the commonest English endings, enough for plan/plans/
// planning to meet.
func fakeStem(w string) string {
	for _, suf := range []string{"ations", "ation", "ings", "ing", "ions", "ion", "ers", "er", "ed", "es", "s"} {
		if len(w) > len(suf)+2 && strings.HasSuffix(w, suf) {
			w = strings.TrimSuffix(w, suf)
			if n := len(w); n > 2 && w[n-1] == w[n-2] {
				w = w[:n-1]
			}
			return w
		}
	}
	return w
}

// Embed is the fake's embedding of text: a hashed bag of stemmed words (and
// their concepts), each adding ±1 to three of dims coordinates, scaled by
// the square root of its count, then normalised to unit length.
func Embed(text string, dims int) []float32 {
	counts := map[string]int{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if embedStop[w] {
			continue
		}
		if c, ok := concepts[w]; ok {
			counts["concept:"+c]++
		}
		stem := fakeStem(w)
		if c, ok := concepts[stem]; ok {
			counts["concept:"+c]++
			continue
		}
		counts[stem]++
	}
	v := make([]float64, dims)
	for w, n := range counts {
		weight := math.Sqrt(float64(n))
		for k := range 3 {
			h := fnv.New64a()
			fmt.Fprintf(h, "%d:%s", k, w)
			x := h.Sum64()
			sign := 1.0
			if x&1 == 1 {
				sign = -1
			}
			v[(x>>1)%uint64(dims)] += sign * weight
		}
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for i, x := range v {
		if norm > 0 {
			out[i] = float32(x / norm)
		}
	}
	return out
}

// Region is the region requests must be signed for.
func (s *EmbedServer) Region() string { return s.region }

// Credentials returns a provider of the test credentials the fake accepts.
func (s *EmbedServer) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

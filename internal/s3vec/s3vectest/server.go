// Package s3vectest runs a fake Amazon S3 Vectors endpoint for tests: an
// httptest server speaking the real restJson1 wire format of the
// operations Recall uses (PutVectors, GetVectors, DeleteVectors,
// QueryVectors, GetIndex: POST /<Operation> with a JSON body), so the real
// SDK client can be pointed at it with BaseEndpoint.
//
// It checks what S3 Vectors would: the SigV4 signature (service
// "s3vectors", the expected region and the test key), that the bucket and
// index exist, the vector dimension, key lengths, batch sizes, topK and the
// metadata filter. A request that fails a check gets the error S3 Vectors
// would send and is recorded; the test fails at cleanup unless it took the
// violations. Queries are exact (brute force) cosine searches, which an
// approximate index should agree with on small data.
package s3vectest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"recall/internal/testenv/sigv4"
)

// Test credentials and the index the fake serves by default.
const (
	AccessKeyID     = "AKIDRECALLTEST000002"
	SecretAccessKey = "recallTestSecretKey/s3vectors+000000000000"
	Region          = "us-east-1"
	Bucket          = "recall-vectors"
	IndexName       = "conversations"
	// MaxTopK, MaxPut and MaxGet are S3 Vectors' limits per request.
	MaxTopK = 100
	MaxPut  = 500
	MaxGet  = 100
)

// Server is a running fake.
type Server struct {
	URL       string
	Dimension int

	ts *httptest.Server

	mu         sync.Mutex
	vectors    map[string]stored
	fail       []string
	calls      map[string]int
	violations []string
	created    time.Time
}

type stored struct {
	data     []float32
	metadata map[string]any
}

// NewServer starts a fake serving Bucket/IndexName with vectors of
// dimension dims (cosine distance), stopped when the test ends.
func NewServer(t testing.TB, dims int) *Server {
	t.Helper()
	s := &Server{Dimension: dims, vectors: map[string]stored{}, calls: map[string]int{}, created: time.Now().UTC().Truncate(time.Second)}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t.Cleanup(func() {
		s.ts.Close()
		if v := s.TakeViolations(); len(v) > 0 {
			t.Errorf("s3vectest: %d request(s) failed the fake's checks:\n  %s", len(v), strings.Join(v, "\n  "))
		}
	})
	return s
}

// Credentials returns a provider of the credentials the fake accepts.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

// Fail makes the next requests answer with these error types
// ("TooManyRequestsException", "AccessDeniedException", …), one each.
func (s *Server) Fail(errTypes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = append(s.fail, errTypes...)
}

// Calls counts requests per operation that were answered successfully.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Keys lists the keys stored, sorted.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.vectors {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Metadata returns the metadata stored with key.
func (s *Server) Metadata(key string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vectors[key].metadata
}

// TakeViolations returns and clears the failed checks.
func (s *Server) TakeViolations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.violations
	s.violations = nil
	return v
}

// statuses are the HTTP statuses S3 Vectors sends with its errors.
var statuses = map[string]int{
	"ValidationException":           http.StatusBadRequest,
	"AccessDeniedException":         http.StatusForbidden,
	"NotFoundException":             http.StatusNotFound,
	"ConflictException":             http.StatusConflict,
	"ServiceQuotaExceededException": http.StatusPaymentRequired,
	"TooManyRequestsException":      http.StatusTooManyRequests,
	"InternalServerException":       http.StatusInternalServerError,
	"ServiceUnavailableException":   http.StatusServiceUnavailable,
	"RequestTimeoutException":       http.StatusRequestTimeout,
	"KmsDisabledException":          http.StatusBadRequest,
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// request is the union of the operations' bodies.
type request struct {
	VectorBucketName string          `json:"vectorBucketName"`
	IndexName        string          `json:"indexName"`
	IndexArn         string          `json:"indexArn"`
	Vectors          []putVector     `json:"vectors"`
	Keys             []string        `json:"keys"`
	QueryVector      *vectorData     `json:"queryVector"`
	TopK             *int            `json:"topK"`
	Filter           json.RawMessage `json:"filter"`
	ReturnDistance   bool            `json:"returnDistance"`
	ReturnMetadata   bool            `json:"returnMetadata"`
	ReturnData       bool            `json:"returnData"`
}

type vectorData struct {
	Float32 []float32 `json:"float32"`
}

type putVector struct {
	Key      string         `json:"key"`
	Data     *vectorData    `json:"data"`
	Metadata map[string]any `json:"metadata"`
}

// serve answers one request: the signature and the method are checked
// before any injected failure, which stands in for the service failing a
// valid call, and the body and the operation after it. What fails a check
// is refused and recorded as a violation.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if ref := sigv4.Check(r, body, sigv4.Expect{Service: "s3vectors", Region: Region, AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}); ref != nil {
		s.refuse(w, r, ref.Status, ref.Code, ref.Message)
		return
	}
	if r.Method != http.MethodPost {
		s.refuse(w, r, statuses["ValidationException"], "ValidationException", fmt.Sprintf("method %s", r.Method))
		return
	}
	if typ := s.takeFailure(); typ != "" {
		status := statuses[typ]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		writeError(w, status, typ, typ+" (injected)")
		return
	}
	op := strings.TrimPrefix(r.URL.Path, "/")
	out, typ, msg := s.answer(op, body)
	if typ != "" {
		s.refuse(w, r, statuses[typ], typ, msg)
		return
	}
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// refuse answers with error typ and records the request as a violation:
// the fake refuses only what a correct client never sends, so the test
// fails unless it meant to send it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, typ, msg string) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf("%s %s: %s: %s", r.Method, r.URL.Path, typ, msg))
	s.mu.Unlock()
	writeError(w, status, typ, msg)
}

// takeFailure returns the next error type Fail asked for, or "".
func (s *Server) takeFailure() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var typ string
	if len(s.fail) > 0 {
		typ, s.fail = s.fail[0], s.fail[1:]
	}
	return typ
}

// answer runs operation op on the request body, returning the reply, or
// the error type and message S3 Vectors would send.
func (s *Server) answer(op string, body []byte) (any, string, string) {
	req, typ, msg := decode(body)
	if typ != "" {
		return nil, typ, msg
	}
	switch op {
	case "PutVectors":
		return s.put(req)
	case "GetVectors":
		return s.get(req)
	case "DeleteVectors":
		return s.delete(req)
	case "QueryVectors":
		return s.query(req)
	case "GetIndex":
		return s.describe(), "", ""
	default:
		return nil, "ValidationException", fmt.Sprintf("unknown operation %q", op)
	}
}

// decode reads a request body strictly (an unknown field is a client bug
// the real service would also reject) and checks that it names the one
// index the fake serves.
func decode(body []byte) (request, string, string) {
	var req request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, "ValidationException", fmt.Sprintf("malformed request body: %v", err)
	}
	if req.IndexArn != "" {
		return req, "ValidationException", "the fake serves indexes by bucket and name, not ARN"
	}
	if req.VectorBucketName != Bucket || req.IndexName != IndexName {
		return req, "NotFoundException", fmt.Sprintf("The specified index could not be found: %s/%s", req.VectorBucketName, req.IndexName)
	}
	return req, "", ""
}

// describe is GetIndex's reply: the index the fake serves.
func (s *Server) describe() any {
	return map[string]any{"index": map[string]any{
		"vectorBucketName": Bucket, "indexName": IndexName, "dataType": "float32", "dimension": s.Dimension,
		"distanceMetric": "cosine", "creationTime": s.created.Unix(),
		"indexArn": fmt.Sprintf("arn:aws:s3vectors:%s:123456789012:bucket/%s/index/%s", Region, Bucket, IndexName),
	}}
}

func (s *Server) checkKey(k string) string {
	if k == "" || len(k) > 1024 {
		return fmt.Sprintf("key %q must be 1 to 1024 characters", k)
	}
	return ""
}

func (s *Server) put(req request) (any, string, string) {
	if len(req.Vectors) == 0 || len(req.Vectors) > MaxPut {
		return nil, "ValidationException", fmt.Sprintf("vectors must hold 1 to %d items, not %d", MaxPut, len(req.Vectors))
	}
	for _, v := range req.Vectors {
		if m := s.checkKey(v.Key); m != "" {
			return nil, "ValidationException", m
		}
		if v.Data == nil || len(v.Data.Float32) != s.Dimension {
			n := 0
			if v.Data != nil {
				n = len(v.Data.Float32)
			}
			return nil, "ValidationException", fmt.Sprintf("Invalid record for key '%s': vector must have length %d, but has length %d", v.Key, s.Dimension, n)
		}
		if raw, _ := json.Marshal(v.Metadata); len(raw) > 2048 {
			return nil, "ValidationException", fmt.Sprintf("filterable metadata of key '%s' exceeds 2 KB", v.Key)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range req.Vectors {
		s.vectors[v.Key] = stored{data: v.Data.Float32, metadata: v.Metadata}
	}
	return struct{}{}, "", ""
}

func (s *Server) get(req request) (any, string, string) {
	if len(req.Keys) == 0 || len(req.Keys) > MaxGet {
		return nil, "ValidationException", fmt.Sprintf("keys must hold 1 to %d items", MaxGet)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var vs []map[string]any
	for _, k := range req.Keys {
		v, ok := s.vectors[k]
		if !ok {
			continue
		}
		item := map[string]any{"key": k}
		if req.ReturnData {
			item["data"] = map[string]any{"float32": v.data}
		}
		if req.ReturnMetadata {
			item["metadata"] = v.metadata
		}
		vs = append(vs, item)
	}
	return map[string]any{"vectors": vs}, "", ""
}

func (s *Server) delete(req request) (any, string, string) {
	if len(req.Keys) == 0 || len(req.Keys) > MaxPut {
		return nil, "ValidationException", fmt.Sprintf("keys must hold 1 to %d items", MaxPut)
	}
	for _, k := range req.Keys {
		if m := s.checkKey(k); m != "" {
			return nil, "ValidationException", m
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range req.Keys {
		delete(s.vectors, k)
	}
	return struct{}{}, "", ""
}

func (s *Server) query(req request) (any, string, string) {
	if req.TopK == nil || *req.TopK < 1 || *req.TopK > MaxTopK {
		return nil, "ValidationException", fmt.Sprintf("topK must be between 1 and %d", MaxTopK)
	}
	if req.QueryVector == nil || len(req.QueryVector.Float32) != s.Dimension {
		return nil, "ValidationException", fmt.Sprintf("query vector must have length %d", s.Dimension)
	}
	match, err := compileFilter(req.Filter)
	if err != nil {
		return nil, "ValidationException", "Invalid query filter: " + err.Error()
	}
	s.mu.Lock()
	type hit struct {
		key  string
		dist float64
		meta map[string]any
	}
	var hits []hit
	for k, v := range s.vectors {
		if match(v.metadata) {
			hits = append(hits, hit{k, 1 - cosine(req.QueryVector.Float32, v.data), v.metadata})
		}
	}
	s.mu.Unlock()
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].dist != hits[j].dist {
			return hits[i].dist < hits[j].dist
		}
		return hits[i].key < hits[j].key
	})
	if len(hits) > *req.TopK {
		hits = hits[:*req.TopK]
	}
	vs := []map[string]any{}
	for _, h := range hits {
		item := map[string]any{"key": h.key}
		if req.ReturnDistance {
			item["distance"] = float32(h.dist)
		}
		if req.ReturnMetadata {
			item["metadata"] = h.meta
		}
		vs = append(vs, item)
	}
	return map[string]any{"vectors": vs, "distanceMetric": "cosine"}, "", ""
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// compileFilter reads the part of S3 Vectors' filter language Recall uses:
// {"k": v} and {"k": {"$eq": v}} equality on strings, combined with $and.
func compileFilter(raw json.RawMessage) (func(map[string]any) bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return func(map[string]any) bool { return true }, nil
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("filter must be an object: %w", err)
	}
	var preds []func(map[string]any) bool
	for k, v := range f {
		if k == "$and" {
			var parts []json.RawMessage
			if err := json.Unmarshal(v, &parts); err != nil {
				return nil, fmt.Errorf("$and takes an array")
			}
			for _, p := range parts {
				m, err := compileFilter(p)
				if err != nil {
					return nil, err
				}
				preds = append(preds, m)
			}
			continue
		}
		if strings.HasPrefix(k, "$") {
			return nil, fmt.Errorf("operator %s is not supported by the fake", k)
		}
		var want any
		var op map[string]any
		if json.Unmarshal(v, &op) == nil {
			eq, ok := op["$eq"]
			if !ok || len(op) != 1 {
				return nil, fmt.Errorf("only $eq is supported by the fake, got %s", v)
			}
			want = eq
		} else if err := json.Unmarshal(v, &want); err != nil {
			return nil, err
		}
		key := k
		preds = append(preds, func(m map[string]any) bool { return m[key] == want })
	}
	return func(m map[string]any) bool {
		for _, p := range preds {
			if !p(m) {
				return false
			}
		}
		return true
	}, nil
}

package awslambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"recall/internal/recall"
)

const (
	testRegion = "us-east-1"
	testKey    = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// invocation is one request the fake Lambda API received, as it arrived.
type invocation struct {
	Function       string
	InvocationType string
	Body           []byte
	Scope          string // credential scope: date/region/service/aws4_request
	SignatureOK    bool
	SignatureError string
}

// fakeLambda speaks the Lambda Invoke wire protocol (REST-JSON):
// POST /2015-03-31/functions/{FunctionName}/invocations with the invocation
// type in X-Amz-Invocation-Type, answering 202 with no body for an Event, or
// an error with its type in x-amzn-ErrorType. It checks every request's
// SigV4 signature by signing the same request again.
type fakeLambda struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls []invocation
	// respond, if set, writes the answer instead of a plain 202.
	respond func(w http.ResponseWriter, r *http.Request)
}

var invokePath = regexp.MustCompile(`^/2015-03-31/functions/([^/]+)/invocations$`)

func startFakeLambda(t *testing.T) *fakeLambda {
	t.Helper()
	f := &fakeLambda{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLambda) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := invokePath.FindStringSubmatch(r.URL.EscapedPath())
	if r.Method != http.MethodPost || m == nil {
		lambdaError(w, http.StatusNotFound, "UnknownOperationException", "no such operation: "+r.Method+" "+r.URL.Path)
		return
	}
	name, _ := url.PathUnescape(m[1])
	inv := invocation{Function: name, InvocationType: r.Header.Get("X-Amz-Invocation-Type"), Body: body}
	inv.Scope, inv.SignatureOK, inv.SignatureError = checkSignature(r, body)
	f.mu.Lock()
	f.calls = append(f.calls, inv)
	respond := f.respond
	f.mu.Unlock()
	if respond != nil {
		respond(w, r)
		return
	}
	w.Header().Set("X-Amzn-Requestid", "0b9a1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d")
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeLambda) received() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.calls...)
}

// lambdaError writes an error the way the Lambda API does.
func lambdaError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

var authHeader = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

// checkSignature re-signs the received request with the test credentials
// and the request's own X-Amz-Date, and reports the credential scope and
// whether both signatures agree.
func checkSignature(r *http.Request, body []byte) (scope string, ok bool, problem string) {
	m := authHeader.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "", false, "Authorization is not a SigV4 header: " + r.Header.Get("Authorization")
	}
	if m[1] != testKey {
		return m[2], false, "signed with access key " + m[1]
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return m[2], false, "bad X-Amz-Date: " + err.Error()
	}
	sum := sha256.Sum256(body)
	req, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range strings.Split(m[3], ";") {
		if h == "host" {
			continue
		}
		req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	req.Header.Del("Authorization")
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "lambda", testRegion, when); err != nil {
		return m[2], false, "re-sign: " + err.Error()
	}
	want := authHeader.FindStringSubmatch(req.Header.Get("Authorization"))
	if want == nil || want[4] != m[4] {
		return m[2], false, "signature does not match a fresh signature of the same request"
	}
	return m[2], true, ""
}

func newClient(f *fakeLambda) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		BaseEndpoint: aws.String(f.srv.URL),
		HTTPClient:   f.srv.Client(),
	})
}

func testJob() recall.Job {
	return recall.Job{
		ConversationID: "01JP9ZQ7K3M5N8R2T4V6W8X0YZ", Owner: "8c2e4f6a-1b3d-4e5f-9a0b-1c2d3e4f5a6b",
		Run: 2, Priority: recall.PriorityHigh, Attempt: 1, EnqueuedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
	}
}

func TestNudgeInvokesAsynchronously(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		function string
	}{
		{"name", "recall-process"},
		{"arn", "arn:aws:lambda:us-east-1:123456789012:function:recall-process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFakeLambda(t)
			n := NewNudger(newClient(f), tt.function)
			if err := n.Nudge(context.Background(), testJob()); err != nil {
				t.Fatalf("Nudge: %v", err)
			}
			calls := f.received()
			if len(calls) != 1 {
				t.Fatalf("the Lambda API got %d requests; want exactly 1", len(calls))
			}
			c := calls[0]
			if c.Function != tt.function {
				t.Errorf("invoked function %q; want %q", c.Function, tt.function)
			}
			if c.InvocationType != "Event" {
				t.Errorf("X-Amz-Invocation-Type = %q; want Event (asynchronous)", c.InvocationType)
			}
			var got map[string]any
			if err := json.Unmarshal(c.Body, &got); err != nil {
				t.Fatalf("payload %q is not JSON: %v", c.Body, err)
			}
			want := map[string]any{"conversation_id": testJob().ConversationID, "owner": testJob().Owner}
			if len(got) != len(want) || got["conversation_id"] != want["conversation_id"] || got["owner"] != want["owner"] {
				t.Errorf("payload = %s; want exactly %v (the process function's direct event)", c.Body, want)
			}
			if !c.SignatureOK {
				t.Errorf("SigV4 signature rejected: %s", c.SignatureError)
			}
			if parts := strings.Split(c.Scope, "/"); len(parts) != 4 || parts[1] != testRegion || parts[2] != "lambda" || parts[3] != "aws4_request" {
				t.Errorf("credential scope %q; want <date>/%s/lambda/aws4_request", c.Scope, testRegion)
			}
		})
	}
}

func TestNudgeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		errType string
		check   func(error) bool
	}{
		{"throttled", http.StatusTooManyRequests, "TooManyRequestsException", func(err error) bool {
			var e *types.TooManyRequestsException
			return errors.As(err, &e)
		}},
		{"no such function", http.StatusNotFound, "ResourceNotFoundException", func(err error) bool {
			var e *types.ResourceNotFoundException
			return errors.As(err, &e)
		}},
		{"not allowed", http.StatusForbidden, "AccessDeniedException", func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "AccessDenied")
		}},
		{"service fault", http.StatusInternalServerError, "ServiceException", func(err error) bool {
			var e *types.ServiceException
			return errors.As(err, &e)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFakeLambda(t)
			f.respond = func(w http.ResponseWriter, r *http.Request) {
				lambdaError(w, tt.status, tt.errType, "refused by the test")
			}
			err := NewNudger(newClient(f), "recall-process").Nudge(context.Background(), testJob())
			if err == nil {
				t.Fatalf("Nudge succeeded against a %d %s", tt.status, tt.errType)
			}
			if !tt.check(err) {
				t.Errorf("error %v is not the %s the API answered", err, tt.errType)
			}
			if !strings.Contains(err.Error(), "recall-process") || !strings.Contains(err.Error(), testJob().ConversationID) {
				t.Errorf("error %q should name the function and the conversation", err)
			}
			if n := len(f.received()); n != 1 {
				t.Errorf("the Lambda API got %d requests; a nudge makes exactly one attempt", n)
			}
		})
	}
}

func TestNudgeGivesUpAfterTimeout(t *testing.T) {
	t.Parallel()
	f := startFakeLambda(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	f.respond = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusAccepted)
	}
	n := NewNudger(newClient(f), "recall-process").WithTimeout(150 * time.Millisecond)
	start := time.Now()
	err := n.Nudge(context.Background(), testJob())
	took := time.Since(start)
	if err == nil {
		t.Fatal("Nudge succeeded although the Lambda API never answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v; want one wrapping context.DeadlineExceeded", err)
	}
	if took > 5*time.Second {
		t.Errorf("Nudge took %s; the timeout should have ended it after 150ms", took)
	}
}

func TestNewNudgerDefaults(t *testing.T) {
	t.Parallel()
	n := NewNudger(lambda.New(lambda.Options{Region: testRegion}), "recall-process")
	if n.timeout != DefaultTimeout {
		t.Errorf("timeout %s; want DefaultTimeout %s", n.timeout, DefaultTimeout)
	}
	if n.WithTimeout(0).timeout != DefaultTimeout {
		t.Error("WithTimeout(0) should keep the default")
	}
	if got := n.WithTimeout(time.Second); got.timeout != time.Second || n.timeout != DefaultTimeout {
		t.Error("WithTimeout must return a changed copy and leave the original alone")
	}
	if n.Function() != "recall-process" {
		t.Errorf("Function() = %q", n.Function())
	}
}

package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"recall/internal/auth"
	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/memq"
	"recall/internal/recall"
)

// placeholder is the conversation id written in the get and process-direct
// fixtures; tests substitute a real one.
const placeholder = "01JP9ZQ7K3M5N8R2T4V6W8X0YZ"

// fixtureOwner is the sub claim of the fixtures' JWT authorizer.
const fixtureOwner = "8c2e4f6a-1b3d-4e5f-9a0b-1c2d3e4f5a6b"

// newService returns a real Service: bbolt in a temp dir, the in-memory
// queue and the local extractive analyzer.
func newService(t testing.TB) (*recall.Service, *boltstore.Store) {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatalf("boltstore.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	queue := memq.New(memq.Options{})
	t.Cleanup(func() { queue.Close() })
	return recall.NewService(recall.Config{
		Store: store, Queue: queue, Analyzer: extract.New(extract.Options{}),
		AnalyzeTimeout: 2 * time.Second,
	}), store
}

// function returns what functions/<name> would run: the routes of that
// function behind the API Gateway authenticator, adapted to Lambda.
func function(svc *recall.Service, name string) lambdafn.HTTPHandler {
	return lambdafn.HTTP(httpapi.Routes(svc, httpapi.Options{Auth: auth.Gateway{}, Only: []string{name}}))
}

// fixture reads events/<name>, substituting id for the placeholder id.
func fixture(t testing.TB, name, id string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	if id != "" {
		raw = bytes.ReplaceAll(raw, []byte(placeholder), []byte(id))
	}
	return raw
}

// httpEvent decodes an HTTP API fixture, refusing fields the event type
// does not have (a typo in a fixture would otherwise go unnoticed).
func httpEvent(t testing.TB, name, id string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	strictDecode(t, fixture(t, name, id), &ev)
	return ev
}

func strictDecode(t testing.TB, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
}

// invoke runs an HTTP event through h as the Lambda runtime would: the
// handler must never return a Lambda error.
func invoke(t testing.TB, h lambdafn.HTTPHandler, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := h(ctx, ev)
	if err != nil {
		t.Fatalf("Lambda error: %v", err)
	}
	return resp
}

// header reads a response header whatever its case.
func header(resp events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// checkErrorResponse asserts resp is a JSON error answer.
func checkErrorResponse(t testing.TB, resp events.APIGatewayV2HTTPResponse, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
	if header(resp, "Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", header(resp, "Content-Type"))
	}
	var eb httpapi.ErrorBody
	if err := json.Unmarshal([]byte(resp.Body), &eb); err != nil || eb.Error.Code != code || eb.Error.Message == "" {
		t.Errorf("body %s (%v), want code %s", resp.Body, err, code)
	}
}

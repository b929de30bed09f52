package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/auth"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/recall"
)

// seen is what the echo handler reports about the request it got.
type seen struct {
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// echo answers with what it saw, so tests can check what the adapter
// delivers to handlers.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(seen{Path: r.URL.Path, Query: r.URL.RawQuery, Headers: r.Header, Body: b.String()})
})

func echoed(t *testing.T, ev events.APIGatewayV2HTTPRequest) seen {
	t.Helper()
	resp := invoke(t, lambdafn.HTTP(echo), ev)
	var s seen
	if err := json.Unmarshal([]byte(resp.Body), &s); err != nil {
		t.Fatalf("echo: %v %s", err, resp.Body)
	}
	return s
}

// TestHeadersAsSent checks the handler sees each header as API Gateway
// received it, although the adapter splits values on commas.
func TestHeadersAsSent(t *testing.T) {
	t.Parallel()
	ev := httpEvent(t, "create.json", "")
	ev.Headers["accept"] = "application/json, text/plain;q=0.9, */*;q=0.1"
	ev.Headers["idempotency-key"] = "a,b"
	ev.Headers["content-type"] = "application/json; charset=utf-8"
	ev.Headers["x-forwarded-for"] = "203.0.113.24, 10.0.0.7"
	ev.Headers["x-request-id"] = "client-chosen-id"
	s := echoed(t, ev)
	for name, want := range map[string]string{
		"Accept":          ev.Headers["accept"],
		"Idempotency-Key": "a,b",
		"Content-Type":    "application/json; charset=utf-8",
		"X-Forwarded-For": "203.0.113.24, 10.0.0.7",
		"Authorization":   ev.Headers["authorization"],
		"User-Agent":      "curl/8.5.0",
		// API Gateway's request id, not the client's.
		"X-Request-Id": ev.RequestContext.RequestID,
	} {
		if got := s.Headers[name]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", name, got, want)
		}
	}
	if s.Body != ev.Body {
		t.Errorf("body %q", s.Body)
	}
	// The caller's event is not changed.
	if ev.Headers["x-request-id"] != "client-chosen-id" {
		t.Errorf("event headers modified")
	}
}

func TestStagePrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stage, rawPath, query, want string
	}{
		{"prod", "/prod/api/conversations", "", "/api/conversations"},
		{"prod", "/prod", "", "/"},
		{"prod", "/prod/api/conversations", "limit=5", "/api/conversations"},
		{"prod", "/production/api/conversations", "", "/production/api/conversations"},
		{"$default", "/api/conversations", "", "/api/conversations"},
		{"", "/api/health", "", "/api/health"},
	}
	for _, tc := range tests {
		t.Run(tc.stage+tc.rawPath, func(t *testing.T) {
			ev := httpEvent(t, "create-stage.json", "")
			ev.RequestContext.Stage = tc.stage
			ev.RawPath = tc.rawPath
			ev.RequestContext.HTTP.Path = tc.rawPath
			ev.RawQueryString = tc.query
			s := echoed(t, ev)
			if s.Path != tc.want || s.Query != tc.query {
				t.Errorf("path %q query %q, want %q %q", s.Path, s.Query, tc.want, tc.query)
			}
		})
	}
	// Without rawPath the adapter falls back to http.path, which has the
	// prefix too.
	ev := httpEvent(t, "create-stage.json", "")
	ev.RawPath = ""
	if s := echoed(t, ev); s.Path != "/api/conversations" {
		t.Errorf("from http.path: %q", s.Path)
	}
}

func TestIdempotencyKeyWithCommas(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	h := function(svc, httpapi.FunctionCreate)
	ev := httpEvent(t, "create.json", "")
	ev.Headers["idempotency-key"] = "k1,k2,k3"
	first := invoke(t, h, ev)
	second := invoke(t, h, ev)
	if first.StatusCode != 201 || second.StatusCode != 201 || header(second, "Idempotent-Replayed") != "true" || first.Body != second.Body {
		t.Fatalf("replay: %d %d %v", first.StatusCode, second.StatusCode, second.Headers)
	}
	// The key reached the service whole: the same create made directly with
	// "k1,k2,k3" replays the same conversation.
	var c httpapi.Conversation
	if err := json.Unmarshal([]byte(first.Body), &c); err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(ev.Body), &body); err != nil {
		t.Fatal(err)
	}
	direct, replayed, err := svc.Create(t.Context(), fixtureOwner, recall.CreateRequest{
		Content: body["content"], Title: body["title"], PostType: body["post_type"], Priority: recall.Priority(body["priority"])}, "k1,k2,k3")
	if err != nil || !replayed || direct.ID != c.ID {
		t.Errorf("direct create with the same key: replayed %v id %v err %v", replayed, direct, err)
	}
}

func TestHTTPEdgeCases(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	hs, err := auth.NewHS256([]byte("local-secret-local-secret-local-secret"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint([]byte("local-secret-local-secret-local-secret"), "local-user", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	create := function(svc, httpapi.FunctionCreate)
	all := lambdafn.HTTP(httpapi.Routes(svc, httpapi.Options{Auth: auth.Gateway{}}))

	t.Run("base64 body", func(t *testing.T) {
		ev := httpEvent(t, "create.json", "")
		ev.Body = base64.StdEncoding.EncodeToString([]byte(`{"content": "Encoded body from the gateway."}`))
		ev.IsBase64Encoded = true
		delete(ev.Headers, "idempotency-key")
		if resp := invoke(t, create, ev); resp.StatusCode != 201 || !strings.Contains(resp.Body, "Encoded body") {
			t.Errorf("%d %s", resp.StatusCode, resp.Body)
		}
	})
	t.Run("bad base64 is a JSON 500", func(t *testing.T) {
		ev := httpEvent(t, "create.json", "")
		ev.Body = "%%% not base64"
		ev.IsBase64Encoded = true
		resp := invoke(t, create, ev)
		checkErrorResponse(t, resp, 500, recall.EINTERNAL)
		if header(resp, "X-Request-Id") != ev.RequestContext.RequestID {
			t.Errorf("no request id on the 500")
		}
	})
	t.Run("bad path escape is a JSON 400", func(t *testing.T) {
		ev := httpEvent(t, "get.json", "")
		ev.RawPath = "/api/conversations/%zz"
		checkErrorResponse(t, invoke(t, all, ev), 400, recall.EINVALID)
	})
	t.Run("bad query escape is a JSON 400", func(t *testing.T) {
		ev := httpEvent(t, "list.json", "")
		ev.RawQueryString = "limit=%zz"
		checkErrorResponse(t, invoke(t, all, ev), 400, recall.EINVALID)
	})
	t.Run("no claims is 401", func(t *testing.T) {
		ev := httpEvent(t, "list.json", "")
		ev.RequestContext.Authorizer = nil
		resp := invoke(t, all, ev)
		checkErrorResponse(t, resp, 401, recall.EUNAUTHORIZED)
		if !strings.HasPrefix(header(resp, "WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", header(resp, "WWW-Authenticate"))
		}
	})
	t.Run("route of another function is 404", func(t *testing.T) {
		checkErrorResponse(t, invoke(t, create, httpEvent(t, "health.json", "")), 404, recall.ENOTFOUND)
	})
	t.Run("dot-dot path is 404, not a redirect", func(t *testing.T) {
		ev := httpEvent(t, "get.json", "")
		ev.RawPath = "/api/conversations/../health"
		checkErrorResponse(t, invoke(t, all, ev), 404, recall.ENOTFOUND)
	})
	t.Run("encoded slash in id is 404", func(t *testing.T) {
		ev := httpEvent(t, "get.json", "")
		ev.RawPath = "/api/conversations/01JP9ZQ7K3%2FM5N8R2T4V6W8X0YZ"
		checkErrorResponse(t, invoke(t, all, ev), 404, recall.ENOTFOUND)
	})
	t.Run("HS256 bearer token through Lambda", func(t *testing.T) {
		h := lambdafn.HTTP(httpapi.Routes(svc, httpapi.Options{Auth: hs}))
		ev := httpEvent(t, "list.json", "")
		ev.RequestContext.Authorizer = nil
		ev.Headers["authorization"] = "bearer " + tok
		if resp := invoke(t, h, ev); resp.StatusCode != 200 {
			t.Errorf("%d %s", resp.StatusCode, resp.Body)
		}
	})
	t.Run("handler that writes nothing is a JSON 500", func(t *testing.T) {
		var logs bytes.Buffer
		h := lambdafn.HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), lambdafn.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
		checkErrorResponse(t, invoke(t, h, httpEvent(t, "health.json", "")), 500, recall.EINTERNAL)
		if !strings.Contains(logs.String(), "Status code not set") {
			t.Errorf("adapter failure not logged: %s", logs.String())
		}
	})
	t.Run("Lambda request id when API Gateway has none", func(t *testing.T) {
		ev := httpEvent(t, "health.json", "")
		ev.RequestContext.RequestID = ""
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"})
		resp, err := all(ctx, ev)
		if err != nil || header(resp, "X-Request-Id") != "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" {
			t.Errorf("X-Request-Id %q err %v", header(resp, "X-Request-Id"), err)
		}
	})
	t.Run("deadline reaches the handler", func(t *testing.T) {
		var deadline time.Time
		h := lambdafn.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			deadline, _ = r.Context().Deadline()
			w.WriteHeader(204)
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		want, _ := ctx.Deadline()
		if _, err := h(ctx, httpEvent(t, "health.json", "")); err != nil || !deadline.Equal(want) {
			t.Errorf("deadline %v, want %v (%v)", deadline, want, err)
		}
	})
}

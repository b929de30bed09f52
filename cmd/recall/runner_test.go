package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"recall/internal/testenv"
)

// TestRunnerRefusesHugeHeaders: the in-process runner tests and bench use
// is the one recall serve runs, header limit included (the bench's own
// server once had none).
func TestRunnerRefusesHugeHeaders(t *testing.T) {
	r := startRunner(t, testConfig(t), nil)
	req, _ := http.NewRequest("GET", r.URL+"/api/health", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 100 KiB header got %d, want 431", resp.StatusCode)
	}
	if code, _ := (client{t: t, base: r.URL}).do("GET", "/api/health", nil); code != 200 {
		t.Fatalf("health = %d", code)
	}
}

// TestRunnerAPIAndWorkerApart runs the API with the sweeper only (serve
// --no-worker) and a worker without an API (recall worker) as two runners
// over one Redis queue and DynamoDB table: a conversation created through
// the one is analysed by the other.
func TestRunnerAPIAndWorkerApart(t *testing.T) {
	rs := testenv.StartRedis(t)
	endpoint := testenv.StartDynalite(t)
	awsTestCreds(t, "test", "test", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	cfg := testConfig(t)
	cfg.Redis.URL = rs.URL()
	cfg.Store.DynamoTable, cfg.Store.CreateTable = fmt.Sprintf("runner-%d", time.Now().UnixNano()), true
	cfg.Auth.CursorKey = "runner-test-cursor-key"
	log := slog.New(slog.DiscardHandler)

	api, err := openRunner(t.Context(), cfg, log, runnerOptions{Addr: "127.0.0.1:0", NoWorker: true, Grace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	api.start(t.Context())
	t.Cleanup(func() { api.close() })
	tok, err := api.Token("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, base: api.URL, token: tok}
	code, v := c.do("POST", "/api/conversations", map[string]any{"content": "Alice: I will send the deck by Friday."})
	if code != 201 {
		t.Fatalf("create = %d %v", code, v)
	}
	id := v["id"].(string)
	time.Sleep(300 * time.Millisecond)
	if _, v := c.do("GET", "/api/conversations/"+id, nil); v["ai_status"] != "pending" {
		t.Fatalf("with no worker running the conversation is %v, want pending", v["ai_status"])
	}

	cfg.Redis.Consumer = "runner-test-worker"
	worker, err := openRunner(t.Context(), cfg, log, runnerOptions{Analyzer: scriptedAnalyzer{}, Grace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if worker.URL != "" {
		t.Fatalf("a runner without an address serves %s", worker.URL)
	}
	worker.start(t.Context())
	got := c.waitFinished([]string{id})[id]
	if got["ai_status"] != "done" || got["ai_model"] != "test-model" {
		t.Fatalf("the worker runner left %v", got)
	}
	if err := worker.close(); err != nil {
		t.Fatalf("worker close: %v", err)
	}
	if err := api.close(); err != nil {
		t.Fatalf("api close: %v", err)
	}
}

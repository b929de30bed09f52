package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/config"
	"recall/internal/testenv"
)

// TestLogsCarryContextNotSecrets runs a whole life through the local
// runner with its JSON logger: creates with a distinctive content and a real
// bearer token, a worker that finishes one and fails another for good,
// reads, health, and a request with a forged token. The log must name
// requests and jobs (request id, conversation id, owner, attempt, duration,
// outcome) and must never hold the content, the title, the token, the
// signing secret or the Authorization header.
func TestLogsCarryContextNotSecrets(t *testing.T) {
	cfg := testConfig(t)
	cfg.Log = config.Log{Format: "json", Level: slog.LevelDebug}
	logs := &testenv.Buffer{}
	r := startRunner(t, cfg, newLogger(cfg.Log, logs))
	tok, err := r.Token("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := r.app.Secret()
	if err != nil {
		t.Fatal(err)
	}
	const (
		content = "ZEBRA-CONTENT-7f3a: Alice will wire the quarterly numbers to Bob by Friday."
		title   = "OKAPI-TITLE-91c2"
		forged  = "eyJhbGciOiJIUzI1NiJ9.FORGED-TOKEN-55d1.c2lnbmF0dXJl"
	)
	c := client{t: t, base: r.URL, token: tok}
	code, ok := c.do("POST", "/api/conversations", map[string]any{"title": title, "content": content})
	if code != 201 {
		t.Fatalf("create = %d %v", code, ok)
	}
	code, doomed := c.do("POST", "/api/conversations", map[string]any{"title": title, "content": content + " (doomed)", "post_type": "doomed"})
	if code != 201 {
		t.Fatalf("create = %d %v", code, doomed)
	}
	ids := []string{ok["id"].(string), doomed["id"].(string)}
	got := c.waitFinished(ids)
	if got[ids[0]]["ai_status"] != "done" || got[ids[1]]["ai_status"] != "failed" {
		t.Fatalf("statuses: %v / %v", got[ids[0]]["ai_status"], got[ids[1]]["ai_status"])
	}
	if code, _ := (client{t: t, base: r.URL}).do("GET", "/api/health", nil); code != 200 {
		t.Fatalf("health = %d", code)
	}
	if code, _ := (client{t: t, base: r.URL, token: forged}).do("GET", "/api/conversations/"+ids[0], nil); code != 401 {
		t.Fatalf("forged token = %d, want 401", code)
	}
	req, _ := http.NewRequest("GET", r.URL+"/api/conversations", nil)
	req.Header.Set("Authorization", "Basic "+forged)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	if err := r.close(); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	for what, secret := range map[string]string{
		"content": "ZEBRA-CONTENT", "title": "OKAPI-TITLE", "bearer token": tok, "forged token": "FORGED-TOKEN",
		"signing secret": string(secret), "secret (hex)": hex.EncodeToString(secret),
		"Authorization header": "Authorization", "Bearer scheme": "Bearer", "Basic scheme": "Basic ",
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs hold the %s", what)
		}
	}
	// The token's signature alone must not leak either.
	if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(out, sig) {
		t.Error("the logs hold the token's signature")
	}

	var requests, jobs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %v\n%s", err, sc.Text())
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line without %q: %s", k, sc.Text())
			}
		}
		switch rec["msg"] {
		case "request":
			requests = append(requests, rec)
		case "job":
			jobs = append(jobs, rec)
		}
	}
	has := func(rec map[string]any, keys ...string) bool {
		for _, k := range keys {
			if v, ok := rec[k]; !ok || v == "" {
				return false
			}
		}
		return true
	}

	var creates, reads, health, refused int
	for _, rec := range requests {
		if !has(rec, "request_id", "method", "route", "status", "duration_ms") {
			t.Errorf("request line lacks a key: %v", rec)
		}
		switch {
		case rec["route"] == "create" && rec["status"] == 201.0:
			creates++
			if !has(rec, "owner", "conversation_id") || rec["owner"] != "alice" {
				t.Errorf("create line without owner or conversation id: %v", rec)
			}
		case rec["route"] == "get" && rec["status"] == 200.0:
			reads++
			if !has(rec, "owner", "conversation_id") {
				t.Errorf("read line without owner or conversation id: %v", rec)
			}
		case rec["route"] == "health":
			health++
		case rec["status"] == 401.0:
			refused++
			if rec["error_code"] != "unauthorized" {
				t.Errorf("refused request without error_code: %v", rec)
			}
		}
	}
	if creates != 2 || reads == 0 || health != 1 || refused != 2 {
		t.Errorf("request lines: %d creates, %d reads, %d health, %d refused; want 2, some, 1, 2", creates, reads, health, refused)
	}

	outcomes := map[string]int{}
	for _, rec := range jobs {
		if !has(rec, "conversation_id", "owner", "attempt", "outcome", "duration_ms", "run") {
			t.Errorf("job line lacks a key: %v", rec)
		}
		outcomes[rec["outcome"].(string)]++
		switch rec["outcome"] {
		case "done":
			if !has(rec, "model", "input_tokens", "output_tokens") {
				t.Errorf("done job line without model or tokens: %v", rec)
			}
		case "failed":
			if reason, _ := rec["reason"].(string); !strings.Contains(reason, "model access") {
				t.Errorf("failed job line does not say why: %v", rec)
			}
		}
	}
	if outcomes["done"] != 1 || outcomes["failed"] != 1 {
		t.Errorf("job outcomes %v, want one done and one failed", outcomes)
	}
}

// TestLoggerFormats pins what the local logger promises the operator: JSON
// wherever output is not a terminal, text when asked, the level honoured,
// and under recall invoke the invocation's request id on every record.
func TestLoggerFormats(t *testing.T) {
	tests := []struct {
		name   string
		format string
		json   bool
	}{
		{"auto to a pipe", "auto", true},
		{"json", "json", true},
		{"text", "text", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(config.Log{Format: tt.format, Level: slog.LevelInfo}, &buf)
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
			log.DebugContext(ctx, "below the level")
			log.InfoContext(ctx, "hello", "conversation_id", "c1")
			var rec map[string]any
			isJSON := json.Unmarshal(buf.Bytes(), &rec) == nil
			if isJSON != tt.json {
				t.Fatalf("JSON = %v, want %v: %s", isJSON, tt.json, buf.String())
			}
			if !strings.Contains(buf.String(), "req-123") || !strings.Contains(buf.String(), "conversation_id") {
				t.Errorf("record lacks the request id or attributes: %s", buf.String())
			}
			if strings.Contains(buf.String(), "below the level") {
				t.Errorf("a debug record passed an info logger: %s", buf.String())
			}
			if tt.json && rec["lambda_request_id"] != "req-123" {
				t.Errorf("lambda_request_id = %v", rec["lambda_request_id"])
			}
		})
	}
}

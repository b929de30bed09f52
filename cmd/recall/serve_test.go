package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/testenv"
)

// buildRecall compiles this command once per test binary run.
var buildRecall = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "recall-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "recall")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// server is a running `recall serve` process.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string
	token   string
	logs    *testenv.Buffer
	exited  chan error
	dataDir string
	env     []string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServe runs `recall serve` on a free port over dataDir with extra
// environment, and waits until health answers.
func startServe(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	bin, err := buildRecall()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	s := &server{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &testenv.Buffer{}, exited: make(chan error, 1), dataDir: dataDir}
	// The tests post hundreds of conversations as one owner, far past the
	// per-owner limits, which have tests of their own; and nobody scrapes
	// these runners, which would otherwise contend for the metrics port.
	s.env = append(os.Environ(), "RECALL_LOG_FORMAT=json", "RECALL_SWEEP_EVERY=200ms", "RECALL_STALE_AFTER=1s", "RECALL_RETRY_BASE=50ms",
		"RECALL_OWNER_RPS=0", "RECALL_METRICS_ADDR=off")
	s.env = append(s.env, env...)
	s.cmd = exec.Command(bin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data", dataDir, "--grace", "5s")
	s.cmd.Env = s.env
	s.cmd.Stderr = s.logs
	s.cmd.Stdout = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("recall serve logs:\n%s", s.logs.String())
		}
	})
	tok, err := exec.Command(bin, "token", "--user", "alice", "--data", dataDir).Output()
	if err != nil {
		t.Fatalf("recall token: %v", err)
	}
	s.token = strings.TrimSpace(string(tok))
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.exited:
			t.Fatalf("recall serve exited early: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("recall serve did not become healthy: %v\n%s", err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) do(method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// stop sends sig and waits for the process to exit, returning its exit code.
func (s *server) stop(sig syscall.Signal) int {
	s.t.Helper()
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.t.Fatalf("recall serve did not exit after %v", sig)
	}
	return s.cmd.ProcessState.ExitCode()
}

// waitDone polls until every id is done or failed, returning their states.
func (s *server) waitDone(ids []string, within time.Duration) map[string]map[string]any {
	s.t.Helper()
	got := map[string]map[string]any{}
	deadline := time.Now().Add(within)
	for len(got) < len(ids) {
		for _, id := range ids {
			if _, ok := got[id]; ok {
				continue
			}
			code, c := s.do("GET", "/api/conversations/"+id, nil)
			if code != 200 {
				s.t.Fatalf("GET %s = %d %v", id, code, c)
			}
			if st := c["ai_status"]; st == "done" || st == "failed" {
				got[id] = c
			}
		}
		if len(got) < len(ids) && time.Now().After(deadline) {
			s.t.Fatalf("%d of %d conversations finished within %s", len(got), len(ids), within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return got
}

func TestServeEndToEndAndCleanShutdown(t *testing.T) {
	testenv.SkipShort(t, "builds and runs the binary")
	dir := t.TempDir()
	s := startServe(t, dir)
	var ids []string
	for i := range 20 {
		code, c := s.do("POST", "/api/conversations", map[string]any{
			"title":   fmt.Sprintf("sync %d", i),
			"content": "Alice: I will send the budget deck by Friday. Bob: we need to fix the login bug before the release. The release is planned for next week.",
		})
		if code != 201 || c["ai_status"] != "pending" {
			t.Fatalf("create = %d %v", code, c)
		}
		ids = append(ids, c["id"].(string))
	}
	done := s.waitDone(ids, 20*time.Second)
	for id, c := range done {
		if c["ai_status"] != "done" || c["ai_processed"] != true || c["ai_model"] != "local-extractive" {
			t.Fatalf("%s: %v", id, c)
		}
		if items, _ := c["ai_action_items"].([]any); len(items) == 0 {
			t.Errorf("%s: no action items in %v", id, c)
		}
		if s, _ := c["ai_summary"].(string); s == "" {
			t.Errorf("%s: empty summary", id)
		}
	}
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d, want 0", code)
	}

	// A restart on the same data dir still has every conversation.
	s2 := startServe(t, dir)
	code, page := s2.do("GET", "/api/conversations?limit=100", nil)
	if code != 200 {
		t.Fatalf("list = %d %v", code, page)
	}
	if items, _ := page["items"].([]any); len(items) != len(ids) {
		t.Fatalf("after restart list has %d items, want %d", len(items), len(ids))
	}
	if code := s2.stop(syscall.SIGINT); code != 0 {
		t.Fatalf("exit code after SIGINT = %d, want 0", code)
	}
}

// TestServeRecoversAfterKill kills the runner while its in-process queue holds
// work; the restarted runner's sweeper must finish every conversation.
func TestServeRecoversAfterKill(t *testing.T) {
	testenv.SkipShort(t, "builds and runs the binary")
	dir := t.TempDir()
	s := startServe(t, dir, "RECALL_ANALYZER_LATENCY=300ms", "RECALL_CONCURRENCY=2")
	var ids []string
	for i := range 30 {
		code, c := s.do("POST", "/api/conversations", map[string]any{"content": fmt.Sprintf("Item %d. Please review the draft. We need to ship it.", i)})
		if code != 201 {
			t.Fatalf("create = %d %v", code, c)
		}
		ids = append(ids, c["id"].(string))
	}
	time.Sleep(400 * time.Millisecond) // some done, some processing, most waiting
	s.stop(syscall.SIGKILL)

	s2 := startServe(t, dir)
	done := s2.waitDone(ids, 30*time.Second)
	for id, c := range done {
		if c["ai_status"] != "done" {
			t.Errorf("%s ended %v: %v", id, c["ai_status"], c["ai_error"])
		}
	}
	if code := s2.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code = %d", code)
	}
}

// TestServeWithBedrock runs the whole pipeline through `recall serve` with
// RECALL_AI=bedrock against a server speaking Bedrock Runtime's wire
// protocol: create → done with the model's fields, one model call each.
func TestServeWithBedrock(t *testing.T) {
	testenv.SkipShort(t, "builds and runs the binary")
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-west-2", AccessKeyID: "AKIDRECALLTEST", SecretAccessKey: "recall-test-secret"})
	s := startServe(t, t.TempDir(),
		"RECALL_AI=bedrock", "AWS_REGION=us-west-2", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+fake.URL,
		"AWS_ACCESS_KEY_ID=AKIDRECALLTEST", "AWS_SECRET_ACCESS_KEY=recall-test-secret",
		"AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	code, health := s.do("GET", "/api/health", nil)
	if code != 200 || health["components"].(map[string]any)["ai"] != "configured" {
		t.Fatalf("health = %d %v", code, health)
	}
	var ids []string
	for i := range 3 {
		code, c := s.do("POST", "/api/conversations", map[string]any{
			"content": fmt.Sprintf("Dana: I will draft the migration plan by Monday (%d). Eli: please book the review meeting.", i),
		})
		if code != 201 {
			t.Fatalf("create = %d %v", code, c)
		}
		ids = append(ids, c["id"].(string))
	}
	for id, c := range s.waitDone(ids, 20*time.Second) {
		if c["ai_status"] != "done" || c["ai_model"] != bedrock.DefaultModelID {
			t.Fatalf("%s: %v", id, c)
		}
		usage := c["ai_usage"].(map[string]any)
		if usage["input_tokens"].(float64) <= 0 || usage["output_tokens"].(float64) <= 0 {
			t.Errorf("%s: usage not recorded: %v", id, usage)
		}
		if sum, _ := c["ai_summary"].(string); sum == "" {
			t.Errorf("%s: no summary", id)
		}
	}
	if calls := fake.Calls(); calls != len(ids) {
		t.Errorf("model calls = %d, want one per conversation (%d)", calls, len(ids))
	}
	if v := fake.TakeViolations(); len(v) > 0 {
		t.Errorf("requests the fake refused as not Bedrock-shaped: %v", v)
	}
}

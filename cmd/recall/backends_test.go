package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"recall/internal/testenv"
)

// awsTestEnv points the SDK at a local DynamoDB-API server with dummy
// credentials and nothing read from the developer's AWS files.
func awsTestEnv(endpoint, table string) []string {
	return []string{
		"DYNAMODB_TABLE=" + table, "RECALL_CREATE_TABLE=1", "AWS_ENDPOINT_URL_DYNAMODB=" + endpoint,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_SESSION_TOKEN=",
		"AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// createMany posts n conversations from 16 clients and returns their ids.
func createMany(t *testing.T, s *server, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				code, c := s.do("POST", "/api/conversations", map[string]any{
					"content": fmt.Sprintf("Conversation %d. Alice: I will check the numbers. Bob: we need to update the forecast.", i),
				})
				if code != 201 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("#%d: %d %v", i, code, c))
					mu.Unlock()
					continue
				}
				ids[i] = c["id"].(string)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d creates failed, first: %s", len(failures), failures[0])
	}
	return ids
}

// doneCounts reads the runner's JSON job log and counts, per conversation,
// the jobs that wrote a result.
func doneCounts(t *testing.T, logs string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg, Outcome   string
			ConversationID string `json:"conversation_id"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "job" && rec.Outcome == "done" {
			counts[rec.ConversationID]++
		}
	}
	return counts
}

// TestServeOnRedisAndDynamo runs the whole pipeline with DYNAMODB_TABLE and
// REDIS_URL set, against dynalite and a real redis-server.
func TestServeOnRedisAndDynamo(t *testing.T) {
	testenv.SkipShort(t, "starts redis-server, dynalite and the binary")
	redis := testenv.StartRedis(t)
	dynamo := testenv.StartDynalite(t)
	env := append(awsTestEnv(dynamo, "recall-e2e"), "REDIS_URL="+redis.URL())
	s := startServe(t, t.TempDir(), env...)
	code, health := s.do("GET", "/api/health", nil)
	if code != 200 {
		t.Fatalf("health = %d %v", code, health)
	}
	ids := createMany(t, s, 200)
	for id, c := range s.waitDone(ids, 60*time.Second) {
		if c["ai_status"] != "done" {
			t.Fatalf("%s ended %v: %v", id, c["ai_status"], c["ai_error"])
		}
	}
	code, page := s.do("GET", "/api/conversations?limit=100", nil)
	if items, _ := page["items"].([]any); code != 200 || len(items) != 100 || page["next_cursor"] == nil {
		t.Fatalf("list = %d, %d items, cursor %v", code, len(items), page["next_cursor"])
	}
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for id, n := range doneCounts(t, s.logs.String()) {
		if n != 1 {
			t.Errorf("%s: %d results written, want 1", id, n)
		}
	}
}

// TestServeThroughRedisRestart restarts Redis (with AOF) in the middle of 500
// creates: every create answers 201, all 500 end done, each written once.
func TestServeThroughRedisRestart(t *testing.T) {
	testenv.SkipShort(t, "starts redis-server and the binary")
	redis := testenv.StartRedis(t, testenv.WithAppendOnly())
	s := startServe(t, t.TempDir(), "REDIS_URL="+redis.URL(), "RECALL_ANALYZER_LATENCY=5ms")
	var ids []string
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(300 * time.Millisecond)
		redis.Stop()
		time.Sleep(time.Second)
		redis.Restart()
	}()
	ids = append(ids, createMany(t, s, 250)...)
	<-restarted
	ids = append(ids, createMany(t, s, 250)...)
	done := s.waitDone(ids, 90*time.Second)
	for id, c := range done {
		if c["ai_status"] != "done" {
			t.Errorf("%s ended %v: %v", id, c["ai_status"], c["ai_error"])
		}
	}
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	counts := doneCounts(t, s.logs.String())
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("%s: %d results written, want exactly 1", id, counts[id])
		}
	}
}

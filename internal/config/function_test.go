package config

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// captureStdout runs f with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	os.Stdout = old
	return <-done
}

// TestLambdaHandlerEmitsMetrics runs the create and process functions as
// their mains wire them and checks each invocation ends with CloudWatch EMF
// lines, the process function's carrying the queue gauges the alarms watch.
func TestLambdaHandlerEmitsMetrics(t *testing.T) {
	t.Setenv("RECALL_LOG_FORMAT", "json")
	t.Setenv("REDIS_URL", "")
	t.Setenv("DYNAMODB_TABLE", "")
	t.Setenv("RECALL_AI", "")
	tests := []struct {
		function, event string
		build           Builder
		wantMetric      string
	}{
		{FunctionCreate, "create.json", HTTPFunction, "recall_conversations_created_total"},
		{FunctionProcess, "process-scheduled.json", ProcessFunction, "recall_queue_oldest_age_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.function, func(t *testing.T) {
			// Each function holds its embedded store open for its lifetime.
			t.Setenv("RECALL_DATA_DIR", t.TempDir())
			payload, err := os.ReadFile(filepath.Join("..", "..", "events", tt.event))
			if err != nil {
				t.Fatal(err)
			}
			out := captureStdout(t, func() {
				h, _, err := LambdaHandler(context.Background(), tt.function, tt.build, WithBedrock())
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				if _, err := h.Invoke(ctx, payload); err != nil {
					t.Fatalf("invoke: %v", err)
				}
			})
			var emfLines int
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var doc map[string]any
				if json.Unmarshal(sc.Bytes(), &doc) != nil {
					continue
				}
				aws, ok := doc["_aws"].(map[string]any)
				if !ok {
					continue
				}
				emfLines++
				if _, ok := aws["CloudWatchMetrics"]; !ok {
					t.Errorf("EMF line without CloudWatchMetrics: %s", sc.Text())
				}
				if tt.wantMetric != "" {
					if _, ok := doc[tt.wantMetric]; ok {
						tt.wantMetric = ""
					}
				}
			}
			if emfLines == 0 {
				t.Fatalf("no EMF lines on stdout:\n%s", out)
			}
			if tt.wantMetric != "" {
				t.Errorf("no EMF line carries %s:\n%s", tt.wantMetric, out)
			}
		})
	}
}

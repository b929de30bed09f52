package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func decodeReport(t *testing.T, out string) BenchReport {
	t.Helper()
	var rep BenchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not a report: %v\n%s", err, out)
	}
	return rep
}

func checkPercentiles(t *testing.T, name string, p Percentiles) {
	t.Helper()
	if !(p.P50 > 0 && p.P50 <= p.P95 && p.P95 <= p.P99 && p.P99 <= p.Max) {
		t.Errorf("%s percentiles out of order or empty: %+v", name, p)
	}
}

func TestBenchInProcess(t *testing.T) {
	cleanEnv(t)
	code, out, errOut := runCLI(t, "bench", "-n", "60", "-c", "8", "--workers", "4", "--progress", "plain", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	rep := decodeReport(t, out)
	if rep.Requested != 60 || rep.Concurrency != 8 || rep.Created != 60 || rep.Done != 60 || rep.Failed != 0 || rep.Unfinished != 0 {
		t.Errorf("counts: %+v", rep)
	}
	if len(rep.CreateErrors) != 0 || len(rep.PollErrors) != 0 || rep.TimedOut {
		t.Errorf("errors: create %v, poll %v, timed out %v", rep.CreateErrors, rep.PollErrors, rep.TimedOut)
	}
	checkPercentiles(t, "create latency", rep.CreateLatencyMS)
	checkPercentiles(t, "time to processed", rep.TimeToProcessedMS)
	if rep.CreatesPerSec <= 0 || rep.ProcessedPerSec <= 0 || rep.ProcessedSeconds <= 0 {
		t.Errorf("rates: %+v", rep)
	}
	if !strings.Contains(rep.Target, "in-process runner (embedded store, memory queue, local analyzer, 4 workers") {
		t.Errorf("target = %q", rep.Target)
	}
	// Plain progress goes to stderr, one final line per phase.
	if !strings.Contains(errOut, "create     60/60 100%") || !strings.Contains(errOut, "processed  60/60 100%") || strings.Contains(errOut, "\r") {
		t.Errorf("progress lines:\n%q", errOut)
	}
}

func TestBenchTable(t *testing.T) {
	cleanEnv(t)
	code, out, _ := runCLI(t, "bench", "-n", "10", "-c", "2", "--progress", "none", "--analyzer-latency", "20ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"analyzer latency 20ms", "created            10 in", "create latency     p50 ", "processed          10 done, 0 failed, 0 unfinished", "time to processed  p50 ", "create errors      none"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchAgainstURL loads a runner through --url, once with a good token
// and once with a bad one: every create refused counts under its status,
// and the exit status says the run failed.
func TestBenchAgainstURL(t *testing.T) {
	cleanEnv(t)
	r := startRunner(t, testConfig(t), nil)
	tok, err := r.Token("loadtest", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	idsFile := filepath.Join(t.TempDir(), "ids")
	code, out, errOut := runCLI(t, "bench", "--url", r.URL+"/", "--token", tok, "-n", "20", "-c", "4", "--progress", "none", "--json", "--ids-out", idsFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if rep := decodeReport(t, out); rep.Created != 20 || rep.Done != 20 || rep.Target != r.URL {
		t.Errorf("report: %+v", rep)
	}
	// --ids-out names each created conversation once, and each is the
	// token owner's.
	raw, err := os.ReadFile(idsFile)
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(raw))
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("--ids-out names %s twice", id)
		}
		seen[id] = true
		if _, err := r.app.Service.Get(t.Context(), "loadtest", id); err != nil {
			t.Errorf("--ids-out names %s: %v", id, err)
		}
	}
	if len(ids) != 20 {
		t.Errorf("--ids-out holds %d ids, want the 20 created", len(ids))
	}

	code, out, _ = runCLI(t, "bench", "--url", r.URL, "--token", "not-a-token", "-n", "5", "-c", "2", "--progress", "none", "--json")
	if code != 1 {
		t.Fatalf("bad token: exit %d, want 1\n%s", code, out)
	}
	if rep := decodeReport(t, out); rep.Created != 0 || rep.CreateErrors["401"] != 5 {
		t.Errorf("bad token report: %+v", rep)
	}
}

func TestBenchTimeout(t *testing.T) {
	cleanEnv(t)
	start := time.Now()
	code, out, _ := runCLI(t, "bench", "-n", "4", "-c", "4", "--workers", "1", "--analyzer-latency", "1500ms", "--timeout", "300ms", "--progress", "none", "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	rep := decodeReport(t, out)
	if !rep.TimedOut || rep.Unfinished == 0 || rep.Created != 4 {
		t.Errorf("report: %+v", rep)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("a 300ms timeout took %s", took)
	}
}

func TestBenchUsage(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{
		{"bench", "-n", "0"},
		{"bench", "--url", "http://127.0.0.1:1"},
		{"bench", "--progress", "sparkles"},
	} {
		t.Setenv("RECALL_TOKEN", "")
		if code, out, errOut := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", []time.Duration{3 * time.Millisecond}, Percentiles{3, 3, 3, 3}},
		{"1..100ms", ds, Percentiles{50, 95, 99, 100}},
		{"unsorted", []time.Duration{4 * time.Millisecond, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}, Percentiles{2, 4, 4, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentiles(tt.in); got != tt.want {
				t.Errorf("percentiles = %+v, want %+v", got, tt.want)
			}
		})
	}
}

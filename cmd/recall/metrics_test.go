package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"recall/internal/config"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// scriptedAnalyzer fails for good on post_type "doomed" and otherwise
// answers like a model that spent 50 input and 10 output tokens.
type scriptedAnalyzer struct{}

func (scriptedAnalyzer) Analyze(_ context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	if in.PostType == "doomed" {
		return recall.Analysis{}, recall.Errorf(recall.EPERMISSION, "model access for test-model is not enabled in test-region")
	}
	return recall.Analysis{Summary: "A summary.", ActionItems: []string{"do it"}, Keywords: []string{"it"},
		Model: "test-model", Usage: recall.Usage{InputTokens: 50, OutputTokens: 10}, Calls: 1}, nil
}

func (scriptedAnalyzer) Health(context.Context) (string, error) { return "scripted", nil }

// testConfig is the embedded defaults on a fresh data dir, read without the
// process environment, with short retry and sweep intervals.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.FromLookup(config.Local, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store.DataDir = t.TempDir()
	cfg.Worker.RetryBase, cfg.Worker.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.Worker.SweepEvery = 200 * time.Millisecond
	cfg.Metrics = config.Metrics{Addr: "127.0.0.1:0"}
	return cfg
}

// startRunner starts the runner recall serve runs, on a free loopback port
// over cfg, with the scripted analyzer; it is closed when the test ends.
func startRunner(t *testing.T, cfg config.Config, log *slog.Logger) *runner {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, err := openRunner(t.Context(), cfg, log, runnerOptions{Addr: "127.0.0.1:0", Analyzer: scriptedAnalyzer{}})
	if err != nil {
		t.Fatal(err)
	}
	r.start(t.Context())
	t.Cleanup(func() { r.close() })
	return r
}

// client calls a runner's API as one user.
type client struct {
	t     *testing.T
	base  string
	token string
}

func (c client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitFinished polls until every id is done or failed.
func (c client) waitFinished(ids []string) map[string]map[string]any {
	c.t.Helper()
	got := map[string]map[string]any{}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(ids) {
		for _, id := range ids {
			if _, ok := got[id]; ok {
				continue
			}
			code, v := c.do("GET", "/api/conversations/"+id, nil)
			if code != 200 {
				c.t.Fatalf("GET %s = %d %v", id, code, v)
			}
			if s := v["ai_status"]; s == "done" || s == "failed" {
				got[id] = v
			}
		}
		if len(got) < len(ids) {
			if time.Now().After(deadline) {
				c.t.Fatalf("%d of %d finished in time", len(got), len(ids))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return got
}

// scrapeMetrics GETs /metrics without credentials and flattens it into
// series → value.
func scrapeMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsEndpointAfterKnownRun drives 7 creates (2 high, 5 default) of
// which 2 are refused by the model for good, then scrapes /metrics.
func TestMetricsEndpointAfterKnownRun(t *testing.T) {
	r := startRunner(t, testConfig(t), nil)
	tok, err := r.Token("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := client{t: t, base: r.URL, token: tok}
	var ids []string
	for i, p := range []struct{ priority, postType string }{
		{"high", "update"}, {"high", "doomed"}, {"default", "update"}, {"default", "update"},
		{"default", "update"}, {"default", "doomed"}, {"default", "update"},
	} {
		code, v := c.do("POST", "/api/conversations", map[string]any{"content": fmt.Sprint("Ship it ", i), "priority": p.priority, "post_type": p.postType})
		if code != 201 {
			t.Fatalf("create = %d %v", code, v)
		}
		ids = append(ids, v["id"].(string))
	}
	c.waitFinished(ids)
	// The outcome is counted just after the store write the poll saw.
	var got map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; {
		got = scrapeMetrics(t, r.MetricsURL)
		if got[`recall_jobs_total{outcome="done"}`]+got[`recall_jobs_total{outcome="failed"}`] == 7 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for k, want := range map[string]float64{
		`recall_conversations_created_total{priority="high"}`:    2,
		`recall_conversations_created_total{priority="default"}`: 5,
		`recall_conversations_created_total{priority="low"}`:     0,
		`recall_jobs_total{outcome="done"}`:                      5,
		`recall_jobs_total{outcome="failed"}`:                    2,
		`recall_jobs_total{outcome="retry"}`:                     0,
		`recall_job_retries_total`:                               0,
		`recall_input_tokens_total`:                              250,
		`recall_output_tokens_total`:                             50,
		`recall_cache_hits_total`:                                0,
		`recall_model_latency_seconds_count`:                     7,
		`recall_dead_letters`:                                    2,
		`recall_queue_depth{priority="high"}`:                    0,
		`recall_queue_depth{priority="default"}`:                 0,
		`recall_queue_depth{priority="low"}`:                     0,
		`recall_queue_in_flight`:                                 0,
		`recall_queue_oldest_age_seconds`:                        0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if got["go_goroutines"] <= 0 {
		t.Error("the Go runtime's metrics are missing")
	}

	// /metrics is on its own listener, outside the API's auth; the API's
	// public listener does not serve it, and keeps its own auth.
	if r.MetricsURL == "" || r.MetricsURL == r.URL {
		t.Fatalf("metrics at %q, the API at %q", r.MetricsURL, r.URL)
	}
	if code, body := (client{t: t, base: r.URL}).do("GET", "/metrics", nil); code != 404 || body["error"] == nil {
		t.Errorf("GET /metrics on the API's listener = %d %v; want the API's JSON 404", code, body)
	}
	if code, _ := (client{t: t, base: r.MetricsURL}).do("GET", "/api/conversations", nil); code != 404 {
		t.Errorf("the API on the metrics listener = %d, want 404", code)
	}
	if code, _ := (client{t: t, base: r.URL}).do("GET", "/api/conversations", nil); code != 401 {
		t.Errorf("the API without a token = %d, want 401", code)
	}
	if code, body := (client{t: t, base: r.URL}).do("POST", "/metrics", nil); code != 404 || body["error"] == nil {
		t.Errorf("POST /metrics = %d %v; want the API's JSON 404", code, body)
	}
	if code, body := (client{t: t, base: r.URL}).do("GET", "/api/health", nil); code != 200 || body["status"] != "healthy" {
		t.Errorf("health = %d %v", code, body)
	}
}

// TestMetricsListener: RECALL_METRICS_ADDR off serves no metrics; an
// address set on purpose that is taken stops the runner from starting,
// naming the variable; the default address taken (another runner on this
// host has it) leaves the runner without metrics, with a warning.
func TestMetricsListener(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().String()

	cfg := testConfig(t)
	cfg.Metrics = config.Metrics{}
	if r := startRunner(t, cfg, nil); r.MetricsURL != "" {
		t.Errorf("metrics off, yet served at %s", r.MetricsURL)
	}

	cfg = testConfig(t)
	cfg.Metrics = config.Metrics{Addr: busy}
	if r, err := openRunner(t.Context(), cfg, slog.New(slog.DiscardHandler), runnerOptions{Addr: "127.0.0.1:0", Analyzer: scriptedAnalyzer{}}); err == nil {
		r.close()
		t.Errorf("started with RECALL_METRICS_ADDR=%s taken", busy)
	} else if !strings.Contains(err.Error(), "RECALL_METRICS_ADDR") {
		t.Errorf("error %q does not name RECALL_METRICS_ADDR", err)
	}

	cfg = testConfig(t)
	cfg.Metrics = config.Metrics{Addr: busy, Optional: true}
	var logs testenv.Buffer
	r := startRunner(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if r.MetricsURL != "" || !strings.Contains(logs.String(), "metrics not served") {
		t.Errorf("default address taken: metrics at %q, logs %s", r.MetricsURL, logs.String())
	}
	if code, _ := (client{t: t, base: r.URL}).do("GET", "/api/health", nil); code != 200 {
		t.Errorf("health = %d", code)
	}
}

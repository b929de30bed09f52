// The tests of both exporters live here, in one external test package, so
// that the EMF writer and package prom are checked against the same known
// run and the same expected values: the metric names must mean the same in
// CloudWatch and in Prometheus.
package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"recall/internal/boltstore"
	"recall/internal/memq"
	"recall/internal/metrics"
	"recall/internal/metrics/prom"
	"recall/internal/recall"
)

// scripted is an analyzer whose behaviour the conversation's post_type
// picks: "fail" is refused for good, "flaky" fails once then succeeds,
// "cached" is a cache hit, anything else a model call of 100 in / 20 out
// tokens.
type scripted struct {
	mu    sync.Mutex
	tries map[string]int
}

func (a *scripted) Analyze(_ context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	a.mu.Lock()
	a.tries[in.ConversationID]++
	n := a.tries[in.ConversationID]
	a.mu.Unlock()
	switch in.PostType {
	case "fail":
		return recall.Analysis{}, recall.Errorf(recall.EPERMISSION, "model access is not granted")
	case "flaky":
		if n == 1 {
			return recall.Analysis{}, recall.Errorf(recall.EUNAVAILABLE, "the model timed out")
		}
	case "cached":
		return recall.Analysis{Summary: "s", Model: "m", Cached: true}, nil
	}
	return recall.Analysis{Summary: "s", Model: "m", Usage: recall.Usage{InputTokens: 100, OutputTokens: 20}, Calls: 1}, nil
}

func (a *scripted) Health(context.Context) (string, error) { return "scripted", nil }

// run is the known run every exporter test observes: 9 conversations (3
// high, 4 default, 2 low), of which 2 fail for good, 2 fail once and then
// succeed, 1 is a cache hit and 4 are plain model calls.
type run struct {
	svc   *recall.Service
	queue *memq.Queue
}

var runPlan = []struct {
	priority recall.Priority
	postType string
}{
	{recall.PriorityHigh, "plain"}, {recall.PriorityHigh, "fail"}, {recall.PriorityHigh, "flaky"},
	{recall.PriorityDefault, "plain"}, {recall.PriorityDefault, "plain"}, {recall.PriorityDefault, "cached"}, {recall.PriorityDefault, "flaky"},
	{recall.PriorityLow, "plain"}, {recall.PriorityLow, "fail"},
}

// knownRun performs the run with obs as the observer and returns when every
// conversation has finished.
func knownRun(t *testing.T, obs recall.Observer) run {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := memq.New(memq.Options{})
	t.Cleanup(func() { q.Close() })
	svc := recall.NewService(recall.Config{
		Store: st, Queue: q, Analyzer: &scripted{tries: map[string]int{}}, Observer: obs,
		MaxAttempts: 3, RetryBase: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Work(ctx, recall.WorkerConfig{Concurrency: 4, Wait: 20 * time.Millisecond}) }()
	t.Cleanup(func() { cancel(); <-done })

	var ids []string
	for _, p := range runPlan {
		c, _, err := svc.Create(t.Context(), "alice", recall.CreateRequest{Content: "Ship it on Friday.", PostType: p.postType, Priority: p.priority}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for {
			c, err := svc.Get(t.Context(), "alice", id)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status == recall.StatusDone || c.Status == recall.StatusFailed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still %s", id, c.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The last job's outcome is observed just after its final store write;
	// stop the worker so every observation has happened.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	return run{svc: svc, queue: q}
}

// wantAfterRun is what the known run must have counted, keyed as flatten
// keys Prometheus series.
var wantAfterRun = map[string]float64{
	`recall_conversations_created_total{priority="high"}`:    3,
	`recall_conversations_created_total{priority="default"}`: 4,
	`recall_conversations_created_total{priority="low"}`:     2,
	`recall_jobs_total{outcome="done"}`:                      7,
	`recall_jobs_total{outcome="failed"}`:                    2,
	`recall_jobs_total{outcome="retry"}`:                     2,
	`recall_jobs_total{outcome="throttled"}`:                 0,
	`recall_jobs_total{outcome="skipped"}`:                   0,
	`recall_jobs_total{outcome="released"}`:                  0,
	`recall_jobs_total{outcome="deferred"}`:                  0,
	`recall_job_retries_total`:                               2,
	`recall_input_tokens_total`:                              600,
	`recall_output_tokens_total`:                             120,
	`recall_cache_hits_total`:                                1,
	// 6 model successes, 2 retries, 2 failures; the cache hit is left out.
	`recall_model_latency_seconds_count`:     10,
	`recall_dead_letters`:                    2,
	`recall_queue_depth{priority="high"}`:    0,
	`recall_queue_depth{priority="default"}`: 0,
	`recall_queue_depth{priority="low"}`:     0,
	`recall_queue_in_flight`:                 0,
	`recall_queue_oldest_age_seconds`:        0,
}

// scrape GETs url and flattens the text exposition into series → value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name + labels(m)
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labels(m)] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labels(m)] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	if len(m.GetLabel()) == 0 {
		return ""
	}
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func TestPrometheusAfterKnownRun(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := prom.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := knownRun(t, p)
	var sampleErrs []error
	srv := httptest.NewServer(p.Handler(reg, r.queue, func(err error) { sampleErrs = append(sampleErrs, err) }))
	defer srv.Close()
	got := scrape(t, srv.URL)
	for k, want := range wantAfterRun {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if got["recall_model_latency_seconds_sum"] <= 0 {
		t.Errorf("latency sum = %v, want > 0", got["recall_model_latency_seconds_sum"])
	}
	if len(sampleErrs) > 0 {
		t.Errorf("sampling the queue failed: %v", sampleErrs)
	}
	// A second registration of the same names is refused, not a panic.
	if _, err := prom.New(reg); err == nil {
		t.Error("NewPrometheus on a registry that has the metrics succeeded")
	}
}

func TestPrometheusQueueGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := prom.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	q := memq.New(memq.Options{})
	defer q.Close()
	ctx := t.Context()
	old := time.Now().Add(-time.Minute)
	for i, pr := range []recall.Priority{recall.PriorityHigh, recall.PriorityLow, recall.PriorityLow, recall.PriorityDefault, recall.PriorityLow} {
		if err := q.Enqueue(ctx, recall.Job{ConversationID: fmt.Sprint("c", i), Owner: "o", Run: 1, Priority: pr, Attempt: 1, EnqueuedAt: old}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := q.Receive(ctx, 1, time.Second) // the high one, now in flight
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Receive = %v, %v", jobs, err)
	}
	if err := q.DeadLetter(ctx, jobs[0], "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Receive(ctx, 1, time.Second); err != nil { // the default one
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	srv := httptest.NewServer(p.Handler(reg, q, nil))
	defer srv.Close()
	got := scrape(t, srv.URL)
	for k, want := range map[string]float64{
		`recall_queue_depth{priority="high"}`:    0,
		`recall_queue_depth{priority="default"}`: 0,
		`recall_queue_depth{priority="low"}`:     3,
		`recall_queue_in_flight`:                 1,
		`recall_dead_letters`:                    1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if age := got["recall_queue_oldest_age_seconds"]; age <= 0 || age > 5 {
		t.Errorf("oldest age = %v s, want the 20ms or so the low jobs have waited", age)
	}
}

// failingQueue is a queue whose Stats fails or hangs.
type failingQueue struct {
	recall.Queue
	hang bool
}

func (q failingQueue) Stats(ctx context.Context) (recall.QueueStats, error) {
	if q.hang {
		<-ctx.Done()
		return recall.QueueStats{}, ctx.Err()
	}
	return recall.QueueStats{}, recall.Errorf(recall.EUNAVAILABLE, "queue down")
}

func TestScrapeSurvivesQueueFaults(t *testing.T) {
	for _, hang := range []bool{false, true} {
		t.Run(fmt.Sprint("hang=", hang), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p, err := prom.New(reg)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var errs []error
			srv := httptest.NewServer(p.Handler(reg, failingQueue{hang: hang}, func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
			defer srv.Close()
			start := time.Now()
			got := scrape(t, srv.URL)
			if took := time.Since(start); took > metrics.SampleTimeout+2*time.Second {
				t.Errorf("scrape took %s with a hung queue", took)
			}
			if _, ok := got[`recall_jobs_total{outcome="done"}`]; !ok {
				t.Error("the scrape lost the counters because the queue failed")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(errs) != 1 {
				t.Errorf("onErr heard %d errors, want 1", len(errs))
			}
		})
	}
}

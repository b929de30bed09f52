package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/metrics"
	"recall/internal/recall"
)

// emfDoc is an EMF document as the specification describes it.
type emfDoc struct {
	AWS struct {
		Timestamp         *int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
	root map[string]any
}

// validUnits are the units the specification allows that Recall uses (and
// the rest of CloudWatch's list, so a typo is caught rather than a choice).
var validUnits = map[string]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true, "Bytes": true, "Kilobytes": true,
	"Megabytes": true, "Gigabytes": true, "Terabytes": true, "Bits": true, "Kilobits": true,
	"Megabits": true, "Gigabits": true, "Terabits": true, "Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// parseEMF parses every line of out as an EMF document and checks it
// against the specification: a JSON object per line, _aws with a Timestamp
// in milliseconds and CloudWatchMetrics directives, each naming the
// namespace, dimension sets whose keys are string members of the root, and
// metric definitions whose names are members of the root holding a number
// or an array of at most 100 numbers.
func parseEMF(t *testing.T, out []byte) []emfDoc {
	t.Helper()
	var docs []emfDoc
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var d emfDoc
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("EMF line is not a JSON document: %v\n%s", err, line)
		}
		if err := json.Unmarshal(line, &d.root); err != nil {
			t.Fatal(err)
		}
		if d.AWS.Timestamp == nil || *d.AWS.Timestamp < 1e12 {
			t.Fatalf("_aws.Timestamp missing or not in milliseconds: %s", line)
		}
		if len(d.AWS.CloudWatchMetrics) == 0 {
			t.Fatalf("no _aws.CloudWatchMetrics: %s", line)
		}
		for _, dir := range d.AWS.CloudWatchMetrics {
			if dir.Namespace != metrics.DefaultNamespace {
				t.Errorf("Namespace = %q: %s", dir.Namespace, line)
			}
			if dir.Dimensions == nil {
				t.Errorf("Dimensions missing (use [[]] for none): %s", line)
			}
			for _, set := range dir.Dimensions {
				if len(set) > 30 {
					t.Errorf("a dimension set has %d keys", len(set))
				}
				for _, k := range set {
					if _, ok := d.root[k].(string); !ok {
						t.Errorf("dimension %q is not a string member of the root: %s", k, line)
					}
				}
			}
			if len(dir.Metrics) == 0 || len(dir.Metrics) > 100 {
				t.Errorf("%d metric definitions: %s", len(dir.Metrics), line)
			}
			for _, m := range dir.Metrics {
				if !validUnits[m.Unit] {
					t.Errorf("metric %s has unit %q", m.Name, m.Unit)
				}
				switch v := d.root[m.Name].(type) {
				case float64:
				case []any:
					if len(v) == 0 || len(v) > 100 {
						t.Errorf("metric %s holds %d values", m.Name, len(v))
					}
					for _, x := range v {
						if _, ok := x.(float64); !ok {
							t.Errorf("metric %s holds a %T", m.Name, x)
						}
					}
				default:
					t.Errorf("metric %s is %T at the root, want a number or an array of numbers: %s", m.Name, v, line)
				}
			}
		}
		docs = append(docs, d)
	}
	return docs
}

// emfSeries sums the documents into series → total (arrays count their
// values under name_count), keyed like the Prometheus tests.
func emfSeries(docs []emfDoc) map[string]float64 {
	out := map[string]float64{}
	for _, d := range docs {
		for _, dir := range d.AWS.CloudWatchMetrics {
			var dims []string
			for _, set := range dir.Dimensions {
				for _, k := range set {
					dims = append(dims, fmt.Sprintf("%s=%q", k, d.root[k]))
				}
			}
			sort.Strings(dims)
			suffix := ""
			if len(dims) > 0 {
				suffix = "{" + strings.Join(dims, ",") + "}"
			}
			for _, m := range dir.Metrics {
				switch v := d.root[m.Name].(type) {
				case float64:
					out[m.Name+suffix] += v
				case []any:
					out[m.Name+"_count"+suffix] += float64(len(v))
				}
			}
		}
	}
	return out
}

func TestEMFAfterKnownRun(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := metrics.NewEMF(&buf, metrics.EMFOptions{Now: func() time.Time { return now }})
	r := knownRun(t, e)
	if err := e.SampleQueue(t.Context(), r.queue); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	docs := parseEMF(t, buf.Bytes())
	for _, d := range docs {
		if *d.AWS.Timestamp != now.UnixMilli() {
			t.Errorf("Timestamp = %d, want %d", *d.AWS.Timestamp, now.UnixMilli())
		}
	}
	got := emfSeries(docs)
	for k, want := range wantAfterRun {
		if strings.Contains(k, `outcome="`) && want == 0 {
			// Counters are written as deltas; an outcome that never
			// happened is left out rather than written as 0.
			if _, ok := got[k]; ok {
				t.Errorf("%s written with a zero delta", k)
			}
			continue
		}
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	// The total depth, without a dimension, is what the alarms watch.
	if v, ok := got["recall_queue_depth"]; !ok || v != 0 {
		t.Errorf("undimensioned recall_queue_depth = %v (present %v)", v, ok)
	}

	// The next flush starts from zero: with nothing new it writes nothing.
	buf.Reset()
	if err := e.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("a flush with nothing new wrote %q", buf.String())
	}
	// One more create is a delta of one.
	e.ConversationCreated(recall.PriorityLow)
	if err := e.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got = emfSeries(parseEMF(t, buf.Bytes()))
	if want := map[string]float64{`recall_conversations_created_total{priority="low"}`: 1}; !equalMaps(got, want) {
		t.Errorf("after one create: %v, want %v", got, want)
	}
}

func equalMaps(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestEMFSpreadsManyLatencies(t *testing.T) {
	var buf bytes.Buffer
	e := metrics.NewEMF(&buf, metrics.EMFOptions{})
	const n = 250
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e.JobFinished(recall.OutcomeDone, 1, time.Duration(i)*time.Millisecond, &recall.Analysis{Usage: recall.Usage{InputTokens: 1}})
		})
	}
	wg.Wait()
	if err := e.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	docs := parseEMF(t, buf.Bytes())
	got := emfSeries(docs)
	if got["recall_model_latency_seconds_count"] != n || got["recall_input_tokens_total"] != n || got[`recall_jobs_total{outcome="done"}`] != n {
		t.Errorf("series = %v", got)
	}
	// 250 values need three documents of at most 100.
	var withLatency int
	for _, d := range docs {
		if _, ok := d.root[metrics.ModelLatency]; ok {
			withLatency++
		}
	}
	if withLatency != 3 {
		t.Errorf("latencies spread over %d documents, want 3", withLatency)
	}
	var values []float64
	for _, d := range docs {
		if vs, ok := d.root[metrics.ModelLatency].([]any); ok {
			for _, v := range vs {
				values = append(values, v.(float64))
			}
		}
	}
	slices.Sort(values)
	if values[0] != 0 || values[n-1] != float64(n-1)/1000 {
		t.Errorf("latencies range %v..%v s, want 0..%v", values[0], values[n-1], float64(n-1)/1000)
	}
}

// invoker is a fake Lambda handler that creates a conversation's worth of
// metrics and returns a fixed answer.
type invoker struct {
	e   *metrics.EMF
	err error
}

func (i invoker) Invoke(context.Context, []byte) ([]byte, error) {
	i.e.ConversationCreated(recall.PriorityHigh)
	return []byte(`{"ok":true}`), i.err
}

type stubQueue struct {
	recall.Queue
	st recall.QueueStats
}

func (q stubQueue) Stats(context.Context) (recall.QueueStats, error) { return q.st, nil }

func TestAroundFlushesEveryInvocation(t *testing.T) {
	var buf bytes.Buffer
	var errs []error
	e := metrics.NewEMF(&buf, metrics.EMFOptions{OnError: func(err error) { errs = append(errs, err) }})
	q := stubQueue{st: recall.QueueStats{Depth: map[recall.Priority]int64{recall.PriorityHigh: 4, recall.PriorityLow: 1}, OldestAge: 90 * time.Second, InFlight: 2, Dead: 7}}
	boom := errors.New("handler failed")
	h := e.Around(invoker{e: e, err: boom}, q)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // an invocation at its deadline still flushes
	out, err := h.Invoke(ctx, []byte(`{}`))
	if string(out) != `{"ok":true}` || !errors.Is(err, boom) {
		t.Fatalf("Invoke = %s, %v; want the handler's own answer", out, err)
	}
	got := emfSeries(parseEMF(t, buf.Bytes()))
	for k, want := range map[string]float64{
		`recall_conversations_created_total{priority="high"}`: 1,
		`recall_queue_depth{priority="high"}`:                 4,
		`recall_queue_depth{priority="low"}`:                  1,
		`recall_queue_depth{priority="default"}`:              0,
		`recall_queue_depth`:                                  5,
		`recall_queue_oldest_age_seconds`:                     90,
		`recall_queue_in_flight`:                              2,
		`recall_dead_letters`:                                 7,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if len(errs) > 0 {
		t.Errorf("OnError heard %v", errs)
	}

	// Without a queue (the HTTP functions) nothing is sampled.
	buf.Reset()
	if _, err := e.Around(invoker{e: e}, nil).Invoke(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	got = emfSeries(parseEMF(t, buf.Bytes()))
	if want := map[string]float64{`recall_conversations_created_total{priority="high"}`: 1}; !equalMaps(got, want) {
		t.Errorf("HTTP function flush = %v, want %v", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

func TestAroundReportsWriteErrors(t *testing.T) {
	var errs []error
	e := metrics.NewEMF(failingWriter{}, metrics.EMFOptions{OnError: func(err error) { errs = append(errs, err) }})
	if _, err := e.Around(invoker{e: e}, nil).Invoke(context.Background(), nil); err != nil {
		t.Fatalf("a metrics failure failed the invocation: %v", err)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "stdout closed") {
		t.Errorf("OnError heard %v", errs)
	}
}

// TestAroundIsALambdaHandler pins what the Lambda mains rely on: Around
// takes and returns lambda.Handler values, and a typed handler's answer and
// metrics both come through.
func TestAroundIsALambdaHandler(t *testing.T) {
	var buf bytes.Buffer
	e := metrics.NewEMF(&buf, metrics.EMFOptions{})
	typed := lambda.NewHandler(func(_ context.Context, ev map[string]int) (map[string]int, error) {
		e.JobFinished(recall.OutcomeDone, 1, 2*time.Second, &recall.Analysis{Usage: recall.Usage{InputTokens: 9, OutputTokens: 3}})
		return map[string]int{"jobs": ev["n"]}, nil
	})
	var h lambda.Handler = e.Around(typed, nil)
	out, err := h.Invoke(context.Background(), []byte(`{"n": 1}`))
	if err != nil || string(out) != `{"jobs":1}` {
		t.Fatalf("Invoke = %s, %v", out, err)
	}
	got := emfSeries(parseEMF(t, buf.Bytes()))
	if got["recall_input_tokens_total"] != 9 || got["recall_output_tokens_total"] != 3 || got[`recall_jobs_total{outcome="done"}`] != 1 {
		t.Errorf("series = %v", got)
	}
}

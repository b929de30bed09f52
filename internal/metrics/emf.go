package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"recall/internal/recall"
)

// DefaultNamespace is the CloudWatch namespace the EMF exporter writes to.
const DefaultNamespace = "Recall"

// maxEMFValues is how many values one EMF document may carry for a metric;
// more latency observations than that are spread over further documents.
const maxEMFValues = 100

// EMFOptions tunes an EMF exporter. The zero value is ready to use.
type EMFOptions struct {
	// Namespace is the CloudWatch namespace (DefaultNamespace).
	Namespace string
	// Now is the clock stamped on each document; tests replace it.
	Now func() time.Time
	// OnError, if set, hears of a failed sample or write in Around, which
	// never fails the invocation over metrics.
	OnError func(error)
}

// EMF accumulates Recall's metrics between flushes and writes them as
// CloudWatch Embedded Metric Format documents, one JSON object per line, to
// its writer (stdout in Lambda, where CloudWatch Logs extracts them).
// Counters are written as the increase since the last flush, gauges as last
// sampled, latencies as the raw observations (CloudWatch computes the
// percentiles). It is safe for concurrent use.
//
// One flush writes several lines, not one: an EMF document holds a single
// value per metric name and dimension set, so a labelled metric (jobs by
// outcome, creates and depth by priority) takes one document per label
// value, with the label as a dimension. Unlabelled metrics, and the total
// queue depth (no dimension) that alarms watch, share the first document.
type EMF struct {
	w         io.Writer
	namespace string
	now       func() time.Time
	onErr     func(error)

	mu        sync.Mutex
	created   map[recall.Priority]float64
	jobs      map[recall.Outcome]float64
	retries   float64
	input     float64
	output    float64
	hits      float64
	latencies []float64
	stats     *recall.QueueStats // sampled since the last flush
}

var _ recall.Observer = (*EMF)(nil)

// NewEMF returns an exporter writing to w.
func NewEMF(w io.Writer, opts EMFOptions) *EMF {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &EMF{
		w: w, namespace: opts.Namespace, now: opts.Now, onErr: opts.OnError,
		created: map[recall.Priority]float64{}, jobs: map[recall.Outcome]float64{},
	}
}

// ConversationCreated implements recall.Observer.
func (e *EMF) ConversationCreated(priority recall.Priority) {
	e.mu.Lock()
	e.created[priority]++
	e.mu.Unlock()
}

// JobFinished implements recall.Observer.
func (e *EMF) JobFinished(outcome recall.Outcome, _ int, took time.Duration, a *recall.Analysis) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.jobs[outcome]++
	if IsRetry(outcome) {
		e.retries++
	}
	if RanAnalyzer(outcome, a) {
		e.latencies = append(e.latencies, took.Seconds())
	}
	if a != nil {
		e.input += float64(a.Usage.InputTokens)
		e.output += float64(a.Usage.OutputTokens)
		if a.Cached {
			e.hits++
		}
	}
}

// SampleQueue records q's gauges from one Stats call (bounded by
// SampleTimeout) for the next Flush.
func (e *EMF) SampleQueue(ctx context.Context, q recall.Queue) error {
	ctx, cancel := context.WithTimeout(ctx, SampleTimeout)
	defer cancel()
	st, err := q.Stats(ctx)
	if err != nil {
		return fmt.Errorf("metrics: sample queue: %w", err)
	}
	e.mu.Lock()
	e.stats = &st
	e.mu.Unlock()
	return nil
}

// metricDef is an EMF MetricDefinition.
type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// doc builds one EMF document: dims are the dimension members (their keys
// form the one dimension set), values the metric members.
type doc struct {
	dims    map[string]string
	metrics []metricDef
	values  map[string]any
}

func (d *doc) add(name, unit string, v any) {
	if d.values == nil {
		d.values = map[string]any{}
	}
	d.metrics = append(d.metrics, metricDef{Name: name, Unit: unit})
	d.values[name] = v
}

func (d *doc) encode(namespace string, ts int64) ([]byte, error) {
	keys := make([]string, 0, len(d.dims))
	root := make(map[string]any, len(d.values)+len(d.dims)+1)
	for k, v := range d.dims {
		keys = append(keys, k)
		root[k] = v
	}
	for k, v := range d.values {
		root[k] = v
	}
	root["_aws"] = map[string]any{
		"Timestamp": ts,
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  namespace,
			"Dimensions": [][]string{keys},
			"Metrics":    d.metrics,
		}},
	}
	return json.Marshal(root)
}

// Flush writes everything counted since the last flush and the last queue
// sample, then starts counting afresh. It writes nothing when nothing was
// counted or sampled. The process function calls it at the end of every
// invocation (see Around), because Lambda may freeze the process at any
// point after the invocation returns.
func (e *EMF) Flush(ctx context.Context) error {
	e.mu.Lock()
	created, jobs, st := e.created, e.jobs, e.stats
	retries, input, output, hits, lat := e.retries, e.input, e.output, e.hits, e.latencies
	e.created, e.jobs, e.stats = map[recall.Priority]float64{}, map[recall.Outcome]float64{}, nil
	e.retries, e.input, e.output, e.hits, e.latencies = 0, 0, 0, 0, nil
	e.mu.Unlock()

	var docs []*doc
	// The unlabelled document is written when it has news; then its
	// counters are written even at zero, so a worker's zero reads as zero.
	if retries > 0 || input > 0 || output > 0 || hits > 0 || len(lat) > 0 || st != nil {
		main := &doc{}
		main.add(JobRetries, "Count", retries)
		main.add(InputTokens, "Count", input)
		main.add(OutputTokens, "Count", output)
		main.add(CacheHits, "Count", hits)
		if len(lat) > 0 {
			main.add(ModelLatency, "Seconds", lat[:min(len(lat), maxEMFValues)])
		}
		if st != nil {
			var total int64
			for _, p := range recall.Priorities {
				total += st.Depth[p]
			}
			main.add(QueueDepth, "Count", total)
			main.add(QueueOldestAge, "Seconds", st.OldestAge.Seconds())
			main.add(QueueInFlight, "Count", st.InFlight)
			main.add(DeadLetters, "Count", st.Dead)
		}
		docs = append(docs, main)
		for rest := lat[min(len(lat), maxEMFValues):]; len(rest) > 0; rest = rest[min(len(rest), maxEMFValues):] {
			more := &doc{}
			more.add(ModelLatency, "Seconds", rest[:min(len(rest), maxEMFValues)])
			docs = append(docs, more)
		}
	}
	for _, p := range recall.Priorities {
		d := &doc{dims: map[string]string{LabelPriority: string(p)}}
		if n := created[p]; n > 0 {
			d.add(ConversationsCreated, "Count", n)
		}
		if st != nil {
			d.add(QueueDepth, "Count", st.Depth[p])
		}
		if len(d.metrics) > 0 {
			docs = append(docs, d)
		}
	}
	for _, o := range Outcomes {
		if n := jobs[o]; n > 0 {
			d := &doc{dims: map[string]string{LabelOutcome: string(o)}}
			d.add(Jobs, "Count", n)
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil
	}
	ts := e.now().UnixMilli()
	var buf bytes.Buffer
	for _, d := range docs {
		b, err := d.encode(e.namespace, ts)
		if err != nil {
			return fmt.Errorf("metrics: encode EMF: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	// One Write for the whole flush, so the lines are not interleaved with
	// log records written to the same stdout.
	if _, err := e.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("metrics: write EMF: %w", err)
	}
	return nil
}

// Invoker is the shape of a Lambda handler (lambda.Handler's one method),
// declared here so this package need not import the Lambda runtime.
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

type invokerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// Around returns h with a flush after every invocation: when q is not nil
// the queue is sampled first (the process function passes its queue; the
// HTTP functions pass nil, as one Stats per request would cost more than it
// tells). The flush happens before the result is returned to Lambda, which
// may freeze the process right after. Metric failures go to OnError and never
// fail the invocation.
func (e *EMF) Around(h Invoker, q recall.Queue) Invoker {
	return invokerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		out, err := h.Invoke(ctx, payload)
		// The invocation's own context may be at its deadline already.
		mctx := context.WithoutCancel(ctx)
		if q != nil {
			if serr := e.SampleQueue(mctx, q); serr != nil && e.onErr != nil {
				e.onErr(serr)
			}
		}
		if ferr := e.Flush(mctx); ferr != nil && e.onErr != nil {
			e.onErr(ferr)
		}
		return out, err
	})
}

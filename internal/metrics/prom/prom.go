// Package prom exports Recall's metrics (package metrics names them) in the
// Prometheus text format, for the local runner's /metrics. It is a package
// of its own so that the Lambda functions, which export through
// metrics.EMF, do not link the Prometheus client.
package prom

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"recall/internal/metrics"
	"recall/internal/recall"
)

// LatencyBuckets are the histogram buckets of metrics.ModelLatency, in seconds: from
// the local analyzer's milliseconds to a long Bedrock call near its timeout.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120}

// Exporter keeps Recall's metrics in Prometheus collectors. It is safe for
// concurrent use.
type Exporter struct {
	created      *prometheus.CounterVec
	jobs         *prometheus.CounterVec
	retries      prometheus.Counter
	latency      prometheus.Histogram
	inputTokens  prometheus.Counter
	outputTokens prometheus.Counter
	cacheHits    prometheus.Counter
	dead         prometheus.Gauge
	depth        *prometheus.GaugeVec
	oldest       prometheus.Gauge
	inFlight     prometheus.Gauge
}

var _ recall.Observer = (*Exporter)(nil)

// New makes the collectors and registers them with reg. Every
// label value (each priority, each outcome) is created at zero, so a rate or
// an alert over a series that has not happened yet reads 0 rather than
// nothing. It fails if reg already holds metrics of these names.
func New(reg prometheus.Registerer) (*Exporter, error) {
	p := &Exporter{
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.ConversationsCreated, Help: "Conversations created, by priority.",
		}, []string{metrics.LabelPriority}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metrics.Jobs, Help: "Job deliveries finished, by outcome (done, retry, throttled, failed, skipped, released).",
		}, []string{metrics.LabelOutcome}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metrics.JobRetries, Help: "Job deliveries put back for another attempt after a failed or throttled analysis.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metrics.ModelLatency, Help: "Time to handle a job that ran the analyzer (cache hits excluded), in seconds.",
			Buckets: LatencyBuckets,
		}),
		inputTokens:  prometheus.NewCounter(prometheus.CounterOpts{Name: metrics.InputTokens, Help: "Model input tokens spent."}),
		outputTokens: prometheus.NewCounter(prometheus.CounterOpts{Name: metrics.OutputTokens, Help: "Model output tokens spent."}),
		cacheHits:    prometheus.NewCounter(prometheus.CounterOpts{Name: metrics.CacheHits, Help: "Analyses served from the analyzer's cache."}),
		dead:         prometheus.NewGauge(prometheus.GaugeOpts{Name: metrics.DeadLetters, Help: "Dead letters held by the queue."}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metrics.QueueDepth, Help: "metrics.Jobs waiting for delivery, by priority.",
		}, []string{metrics.LabelPriority}),
		oldest:   prometheus.NewGauge(prometheus.GaugeOpts{Name: metrics.QueueOldestAge, Help: "Seconds the oldest waiting job has waited."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: metrics.QueueInFlight, Help: "metrics.Jobs delivered and not yet acked."}),
	}
	for _, pr := range recall.Priorities {
		p.created.WithLabelValues(string(pr))
		p.depth.WithLabelValues(string(pr))
	}
	for _, o := range metrics.Outcomes {
		p.jobs.WithLabelValues(string(o))
	}
	for _, c := range []prometheus.Collector{p.created, p.jobs, p.retries, p.latency, p.inputTokens,
		p.outputTokens, p.cacheHits, p.dead, p.depth, p.oldest, p.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("prom: register: %w", err)
		}
	}
	return p, nil
}

// ConversationCreated implements recall.Observer.
func (p *Exporter) ConversationCreated(priority recall.Priority) {
	p.created.WithLabelValues(string(priority)).Inc()
}

// JobFinished implements recall.Observer.
func (p *Exporter) JobFinished(outcome recall.Outcome, _ int, took time.Duration, a *recall.Analysis) {
	p.jobs.WithLabelValues(string(outcome)).Inc()
	if metrics.IsRetry(outcome) {
		p.retries.Inc()
	}
	if metrics.RanAnalyzer(outcome, a) {
		p.latency.Observe(took.Seconds())
	}
	if a != nil {
		p.inputTokens.Add(float64(a.Usage.InputTokens))
		p.outputTokens.Add(float64(a.Usage.OutputTokens))
		if a.Cached {
			p.cacheHits.Inc()
		}
	}
}

// SampleQueue sets the queue gauges from one q.Stats call, bounded by
// metrics.SampleTimeout. On error the gauges keep their last values; the health
// check is where a queue outage shows.
func (p *Exporter) SampleQueue(ctx context.Context, q recall.Queue) error {
	ctx, cancel := context.WithTimeout(ctx, metrics.SampleTimeout)
	defer cancel()
	st, err := q.Stats(ctx)
	if err != nil {
		return fmt.Errorf("prom: sample queue: %w", err)
	}
	for _, pr := range recall.Priorities {
		p.depth.WithLabelValues(string(pr)).Set(float64(st.Depth[pr]))
	}
	p.oldest.Set(st.OldestAge.Seconds())
	p.inFlight.Set(float64(st.InFlight))
	p.dead.Set(float64(st.Dead))
	return nil
}

// Handler serves g in the Prometheus text format, sampling q's gauges first
// (when q is not nil) so every scrape sees the queue as it is. A failed
// sample is reported to onErr, if set, and the scrape still answers.
func (p *Exporter) Handler(g prometheus.Gatherer, q recall.Queue, onErr func(error)) http.Handler {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q != nil {
			if err := p.SampleQueue(r.Context(), q); err != nil && onErr != nil {
				onErr(err)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Package metrics is what Recall counts and how it is exported: one set of
// metric names with two exporters that share them. Package prom serves them
// on /metrics of the local runner; EMF here writes them as CloudWatch
// Embedded Metric Format lines to stdout in Lambda, where CloudWatch Logs
// turns them into metrics under the "Recall" namespace without a single API
// call. This package does not import the Prometheus client, so the Lambda
// functions do not carry it.
//
// Both implement recall.Observer, which the Service calls on every create
// and job outcome, and both sample the queue's gauges from Queue.Stats on
// demand (a scrape, the end of an invocation), so nothing polls in the
// background.
package metrics

import (
	"time"

	"recall/internal/recall"
)

// The metric names. They are fixed: dashboards and the SAM template's alarms
// use them, in CloudWatch and Prometheus alike.
const (
	// ConversationsCreated counts conversations created (label priority).
	ConversationsCreated = "recall_conversations_created_total"
	// Jobs counts finished job deliveries (label outcome: done, retry,
	// throttled, failed, skipped, released).
	Jobs = "recall_jobs_total"
	// JobRetries counts deliveries put back for another attempt after an
	// analysis failed: outcomes retry and throttled.
	JobRetries = "recall_job_retries_total"
	// DeadLetters is the number of dead letters the queue holds (gauge).
	DeadLetters = "recall_dead_letters"
	// ModelLatency is how long jobs that ran the analyzer took, in seconds:
	// the model call plus two conditional store writes, which the model
	// dominates. Cache hits are left out, so it measures the model.
	ModelLatency = "recall_model_latency_seconds"
	// InputTokens and OutputTokens count model tokens spent.
	InputTokens  = "recall_input_tokens_total"
	OutputTokens = "recall_output_tokens_total"
	// CacheHits counts analyses served from the analyzer's cache.
	CacheHits = "recall_cache_hits_total"
	// QueueDepth is the jobs waiting for delivery (gauge, label priority).
	QueueDepth = "recall_queue_depth"
	// QueueOldestAge is how long the oldest waiting job has waited (gauge,
	// seconds): the alarm that says the workers are not keeping up.
	QueueOldestAge = "recall_queue_oldest_age_seconds"
	// QueueInFlight is the jobs delivered and not yet acked (gauge).
	QueueInFlight = "recall_queue_in_flight"
)

// Label names.
const (
	LabelPriority = "priority"
	LabelOutcome  = "outcome"
)

// Outcomes lists every job outcome, so both exporters know the label's
// values up front.
var Outcomes = []recall.Outcome{
	recall.OutcomeDone, recall.OutcomeRetry, recall.OutcomeThrottled,
	recall.OutcomeFailed, recall.OutcomeSkipped, recall.OutcomeReleased,
	recall.OutcomeDeferred,
}

// RanAnalyzer reports whether a job with this outcome went as far as the
// analyzer, so its duration says something about the model. Every exporter
// decides ModelLatency by it, so they agree.
func RanAnalyzer(o recall.Outcome, a *recall.Analysis) bool {
	switch o {
	case recall.OutcomeDone, recall.OutcomeRetry, recall.OutcomeThrottled, recall.OutcomeFailed:
		return a == nil || !a.Cached
	}
	return false
}

// IsRetry reports whether the outcome put the job back for another attempt:
// what every exporter counts as JobRetries.
func IsRetry(o recall.Outcome) bool {
	return o == recall.OutcomeRetry || o == recall.OutcomeThrottled
}

// SampleTimeout bounds one Queue.Stats call made to sample the gauges, so a
// hung queue cannot hang a scrape or the end of an invocation.
const SampleTimeout = time.Second

// Tee returns an Observer that tells every one of obs (nils skipped), so a
// process can feed an exporter and something else at once.
func Tee(obs ...recall.Observer) recall.Observer {
	var t tee
	for _, o := range obs {
		if o != nil {
			t = append(t, o)
		}
	}
	if len(t) == 1 {
		return t[0]
	}
	return t
}

type tee []recall.Observer

func (t tee) ConversationCreated(p recall.Priority) {
	for _, o := range t {
		o.ConversationCreated(p)
	}
}

func (t tee) JobFinished(outcome recall.Outcome, attempt int, took time.Duration, a *recall.Analysis) {
	for _, o := range t {
		o.JobFinished(outcome, attempt, took, a)
	}
}

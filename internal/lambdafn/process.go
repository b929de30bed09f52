package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"recall/internal/recall"
)

// Defaults for ProcessOptions.
const (
	DefaultMargin = 5 * time.Second
	DefaultBudget = 60 * time.Second
	// DefaultPruneIdle is longer than any Lambda invocation runs.
	DefaultPruneIdle = 15 * time.Minute
)

// ProcessOptions tunes Process.
type ProcessOptions struct {
	// Margin is kept free before the Lambda deadline so the function
	// returns (and logs) before Lambda cuts it off (DefaultMargin).
	Margin time.Duration
	// Budget is how long a drain may run when the context has no deadline,
	// as when invoked outside Lambda (DefaultBudget).
	Budget time.Duration
	// Worker tunes the drain's concurrency and receive wait.
	Worker recall.WorkerConfig
	// PruneIdle is how long a queue consumer that holds nothing may stay
	// idle before a scheduled run removes it (DefaultPruneIdle).
	PruneIdle time.Duration
}

// Modes of ProcessResult.
const (
	ModeDirect    = "direct"
	ModeScheduled = "scheduled"
)

// ProcessResult is what the process function returns, for the invoker and
// the Lambda console.
type ProcessResult struct {
	// Mode is ModeDirect or ModeScheduled.
	Mode string `json:"mode"`
	// ConversationID and Outcome describe a direct invocation.
	ConversationID string         `json:"conversation_id,omitempty"`
	Outcome        recall.Outcome `json:"outcome,omitempty"`
	// Drain describes a scheduled run.
	Drain *recall.DrainReport `json:"drain,omitempty"`
}

// DirectEvent asks the process function to analyse one conversation now.
type DirectEvent struct {
	ConversationID string `json:"conversation_id"`
	Owner          string `json:"owner"`
	// Run, Priority, Attempt and EnqueuedAt are accepted and ignored, so a
	// marshalled recall.Job (what a Nudger naturally sends) is a valid
	// direct invocation; ProcessNow always analyses the current run.
	Run        int        `json:"run,omitempty"`
	Priority   string     `json:"priority,omitempty"`
	Attempt    int        `json:"attempt,omitempty"`
	EnqueuedAt *time.Time `json:"enqueued_at,omitempty"`
}

// ProcessHandler is the signature lambda.Start expects for the process
// function.
type ProcessHandler = func(ctx context.Context, ev json.RawMessage) (ProcessResult, error)

// Process returns the process function's handler. It accepts two events:
//
//   - a direct invocation {"conversation_id": "...", "owner": "..."}, which
//     analyses that conversation at once (Service.ProcessNow);
//   - an EventBridge scheduled event (source "aws.events", detail-type
//     "Scheduled Event"), which sweeps and drains the queue until the
//     Lambda deadline minus Margin (Service.Drain).
//
// Anything else is an error that says what was expected, so a
// misconfigured trigger fails loudly instead of doing nothing.
func Process(svc *recall.Service, opts ProcessOptions) ProcessHandler {
	if opts.Margin <= 0 {
		opts.Margin = DefaultMargin
	}
	if opts.Budget <= 0 {
		opts.Budget = DefaultBudget
	}
	if opts.PruneIdle <= 0 {
		opts.PruneIdle = DefaultPruneIdle
	}
	log := svc.Config().Logger
	return func(ctx context.Context, ev json.RawMessage) (ProcessResult, error) {
		if !json.Valid(ev) {
			return ProcessResult{}, errors.New("process: the event is not valid JSON")
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(ev, &probe); err != nil || probe == nil {
			return ProcessResult{}, errors.New("process: the event must be a JSON object: {\"conversation_id\", \"owner\"} or an EventBridge Scheduled Event")
		}
		_, hasSource := probe["source"]
		_, hasDetailType := probe["detail-type"]
		if hasSource || hasDetailType {
			return scheduled(ctx, svc, opts, ev)
		}
		var d DirectEvent
		dec := json.NewDecoder(bytes.NewReader(ev))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			return ProcessResult{}, fmt.Errorf("process: direct invocation: %w (expected {\"conversation_id\": \"...\", \"owner\": \"...\"})", err)
		}
		switch {
		case d.ConversationID == "":
			return ProcessResult{}, errors.New("process: direct invocation: conversation_id is required")
		case !recall.ValidID(d.ConversationID):
			return ProcessResult{}, fmt.Errorf("process: direct invocation: conversation_id %q is not a conversation id", recall.Truncate(d.ConversationID, 40))
		case d.Owner == "":
			return ProcessResult{}, errors.New("process: direct invocation: owner is required")
		}
		out, err := svc.ProcessNow(ctx, d.Owner, d.ConversationID)
		if err != nil {
			return ProcessResult{}, fmt.Errorf("process: %s: %w", d.ConversationID, err)
		}
		log.InfoContext(ctx, "process", "mode", ModeDirect, "conversation_id", d.ConversationID, "outcome", string(out))
		return ProcessResult{Mode: ModeDirect, ConversationID: d.ConversationID, Outcome: out}, nil
	}
}

func scheduled(ctx context.Context, svc *recall.Service, opts ProcessOptions, raw json.RawMessage) (ProcessResult, error) {
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ProcessResult{}, fmt.Errorf("process: scheduled event: %w", err)
	}
	if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" {
		return ProcessResult{}, fmt.Errorf("process: unsupported event (source %q, detail-type %q); expected source \"aws.events\" and detail-type \"Scheduled Event\"",
			recall.Truncate(ev.Source, 60), recall.Truncate(ev.DetailType, 60))
	}
	deadline, ok := ctx.Deadline()
	if ok {
		deadline = deadline.Add(-opts.Margin)
	} else {
		deadline = time.Now().Add(opts.Budget)
	}
	window := time.Until(deadline)
	pruneConsumers(ctx, svc, opts.PruneIdle)
	rep, err := svc.Drain(ctx, deadline, opts.Worker)
	svc.Config().Logger.InfoContext(ctx, "process", "mode", ModeScheduled, "jobs", rep.Jobs, "swept", rep.Swept,
		"outcomes", rep.Outcomes, "left_ms", time.Until(deadline).Milliseconds())
	res := ProcessResult{Mode: ModeScheduled, Drain: &rep}
	if err != nil {
		return res, fmt.Errorf("process: drain: %w", err)
	}
	// Drain takes a job only while a whole analysis still fits before the
	// deadline; a function timeout shorter than that drains nothing, ever.
	if analyze := svc.Config().AnalyzeTimeout; window < analyze {
		return res, fmt.Errorf("process: the %s left before the deadline (less a %s margin) is shorter than one analysis (AnalyzeTimeout %s), so no job can be taken; raise the function timeout or lower the analysis timeout",
			window.Round(time.Millisecond), opts.Margin, analyze)
	}
	return res, nil
}

// consumerPruner is a queue that registers its consumers by name (redisq).
type consumerPruner interface {
	PruneConsumers(ctx context.Context, idle time.Duration) (int, error)
}

// pruneConsumers removes the queue's consumers that hold nothing and are
// dead (their heartbeat lapsed) or idle longer than idle, before the drain:
// every container that ever drained registered one. (The drain's own
// reclaim step removes dead consumers with a heartbeat record once they
// hold nothing; this also removes those without one, from before
// heartbeats, and idle ones.) A failure is only logged; the drain does not
// depend on it.
func pruneConsumers(ctx context.Context, svc *recall.Service, idle time.Duration) {
	p, ok := svc.Config().Queue.(consumerPruner)
	if !ok {
		return
	}
	log := svc.Config().Logger
	n, err := p.PruneConsumers(ctx, idle)
	if err != nil {
		log.WarnContext(ctx, "could not prune queue consumers", "error", err.Error())
		return
	}
	if n > 0 {
		log.InfoContext(ctx, "pruned queue consumers", "consumers", n)
	}
}

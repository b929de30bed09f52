// Package recall holds Recall's domain: the conversation record, its analysis,
// the job that carries it through the queue, the typed errors every layer
// speaks, and the three interfaces the backends plug into (Store, Queue,
// Analyzer). It imports nothing else of the project, so every backend, the
// HTTP layer and the Lambda functions can depend on it without cycles.
package recall

import (
	"crypto/rand"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Status is where a conversation is in its analysis.
type Status string

// The analysis states. A conversation is created pending, a worker moves it to
// processing, and it ends done or failed; a retry after a failed attempt moves
// it back to pending, and a reprocess request starts a new run from pending.
const (
	StatusPending    Status = "pending"
	StatusProcessing Status = "processing"
	StatusDone       Status = "done"
	StatusFailed     Status = "failed"
)

// Priority orders work in the queue. The zero value is not valid; use
// PriorityDefault.
type Priority string

// The three priorities, served high before default before low.
const (
	PriorityHigh    Priority = "high"
	PriorityDefault Priority = "default"
	PriorityLow     Priority = "low"
)

// Priorities lists every priority, highest first, for backends that keep one
// lane per priority.
var Priorities = []Priority{PriorityHigh, PriorityDefault, PriorityLow}

// Valid reports whether p is one of the three priorities.
func (p Priority) Valid() bool {
	return p == PriorityHigh || p == PriorityDefault || p == PriorityLow
}

// Lane is p's index in Priorities (high 0, default 1, low 2), or -1 for an
// invalid priority: the slot of p in a backend that keeps one lane each.
func (p Priority) Lane() int {
	switch p {
	case PriorityHigh:
		return 0
	case PriorityDefault:
		return 1
	case PriorityLow:
		return 2
	}
	return -1
}

// Weight is how many deliveries p gets in each round of a queue's weighted
// round robin (6, 3 and 1; 0 for an invalid priority). With every lane busy
// high gets 60% of deliveries, default 30% and low 10%, so low work is
// slowed, never starved. It is the one statement of the priority policy;
// every queue backend serves by it.
func (p Priority) Weight() int {
	switch p {
	case PriorityHigh:
		return 6
	case PriorityDefault:
		return 3
	case PriorityLow:
		return 1
	}
	return 0
}

// Usage counts model tokens spent on one analysis. A cached or local analysis
// spends none.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// Add returns the sum of two usages, for analyses made of several calls.
func (u Usage) Add(v Usage) Usage {
	return Usage{InputTokens: u.InputTokens + v.InputTokens, OutputTokens: u.OutputTokens + v.OutputTokens}
}

// Analysis is what an Analyzer makes of one conversation.
type Analysis struct {
	Summary     string   `json:"summary"`
	ActionItems []string `json:"action_items"`
	Keywords    []string `json:"keywords"`
	Model       string   `json:"model"`
	Usage       Usage    `json:"usage"`
	// Calls is how many model calls the analysis took (0 for a cache hit or
	// the local analyzer), so cost per conversation can be measured.
	Calls int `json:"calls,omitempty"`
	// Cached is true when the analysis was reused rather than computed.
	Cached bool `json:"cached,omitempty"`
}

// Conversation is one posted conversation and the state of its analysis.
//
// Run is the analysis generation: it starts at 1 and grows by one on every
// reprocess request. Jobs carry the run they were made for, and the store
// refuses a transition whose run is not the current one, so an old attempt
// that finishes late cannot overwrite a newer result.
type Conversation struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"`
	Title       string    `json:"title"`
	Content     string    `json:"content"`
	PostType    string    `json:"post_type"`
	Priority    Priority  `json:"priority"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Status      Status    `json:"status"`
	Run         int       `json:"run"`
	Attempts    int       `json:"attempts"`
	Summary     string    `json:"summary,omitempty"`
	ActionItems []string  `json:"action_items,omitempty"`
	Keywords    []string  `json:"keywords,omitempty"`
	Error       string    `json:"error,omitempty"`
	Model       string    `json:"model,omitempty"`
	Usage       Usage     `json:"usage"`
	ProcessedAt time.Time `json:"processed_at,omitzero"`
}

// Ref names one run of one conversation: the key every conditional write is
// checked against.
type Ref struct {
	ID    string
	Owner string
	Run   int
}

// Ref returns the reference to c's current run.
func (c *Conversation) Ref() Ref { return Ref{ID: c.ID, Owner: c.Owner, Run: c.Run} }

// Job is one unit of work in the queue: analyse run Run of a conversation.
type Job struct {
	ConversationID string    `json:"conversation_id"`
	Owner          string    `json:"owner"`
	Run            int       `json:"run"`
	Priority       Priority  `json:"priority"`
	Attempt        int       `json:"attempt"`
	EnqueuedAt     time.Time `json:"enqueued_at"`
	// Receipt is the backend's handle on this delivery (a stream entry id, a
	// sequence number). It is set by Receive and empty on a job that was never
	// delivered, such as one built for a direct invocation.
	Receipt string `json:"-"`
}

// Ref returns the conversation run the job is for.
func (j Job) Ref() Ref { return Ref{ID: j.ConversationID, Owner: j.Owner, Run: j.Run} }

// Key identifies the job's (conversation, run) pair; queues use it to make
// Enqueue idempotent.
func (j Job) Key() string { return j.ConversationID + ":" + strconv.Itoa(j.Run) }

// JobFor builds the first-attempt job for c's current run.
func JobFor(c *Conversation, now time.Time) Job {
	return Job{ConversationID: c.ID, Owner: c.Owner, Run: c.Run, Priority: c.Priority, Attempt: c.Attempts + 1, EnqueuedAt: now}
}

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a ULID for time t. IDs sort by creation time (and, within one
// millisecond of one process, by creation order), which is what lets every
// store list newest first by ID alone.
func NewID(t time.Time) string {
	idMu.Lock()
	defer idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), idEntropy).String()
}

// ValidID reports whether s has the form of an ID made by NewID. Handlers use
// it to refuse path tricks ("..", encoded slashes, huge ids) before any
// backend sees them.
func ValidID(s string) bool {
	if len(s) != ulid.EncodedSize {
		return false
	}
	_, err := ulid.ParseStrict(s)
	return err == nil
}

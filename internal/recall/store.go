package recall

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Store keeps conversations durably. Every implementation must pass
// recalltest.Store, which pins down the semantics below.
//
// The interface is larger than the house's usual two to five methods because
// each method is one access pattern with its own cost profile in DynamoDB
// (one PutItem, one GetItem, one Query, one conditional UpdateItem, one sparse
// index Query); folding them together would hide those costs.
type Store interface {
	// Create saves a new conversation. With a non-nil idem, a second Create by
	// the same owner with the same key (before it expires) returns the first
	// conversation and created=false instead of saving a duplicate; the same
	// key with a different fingerprint is ECONFLICT. A store that cannot
	// write both atomically must still make a retry with the same key end
	// in exactly one conversation (DynamoDB writes the key first and lets
	// the retry complete a create that died in between).
	Create(ctx context.Context, c *Conversation, idem *Idempotency) (stored *Conversation, created bool, err error)

	// Get returns the conversation id of owner; ENOTFOUND if it does not exist
	// or belongs to someone else.
	Get(ctx context.Context, owner, id string) (*Conversation, error)

	// List returns up to limit of owner's conversations, newest first,
	// starting after the conversation with ID after ("" for the first page).
	// more is true when further items exist.
	List(ctx context.Context, owner, after string, limit int) (items []*Conversation, more bool, err error)

	// Transition applies t to the conversation ref names, atomically and only
	// if Conversation.Apply allows it; it returns the updated conversation.
	// ENOTFOUND if there is no such conversation, ECONFLICT if the run is
	// stale or the state does not allow the event.
	Transition(ctx context.Context, ref Ref, t Transition) (*Conversation, error)

	// Stuck returns conversations in pending or processing whose UpdatedAt is
	// before the given time, oldest first, up to limit, resuming after cursor
	// ("" from the start); next is "" on the last page. Items carry at least
	// ID, Owner, Run, Priority, Status, Attempts and UpdatedAt; Content may be
	// empty. The sweeper uses it to re-enqueue work a queue lost.
	Stuck(ctx context.Context, before time.Time, cursor string, limit int) (items []*Conversation, next string, err error)

	// Ping checks the store answers, cheaply, for health checks.
	Ping(ctx context.Context) error

	ItemStore

	// Delete removes owner's conversation id for good and returns it as it
	// was: the record, the idempotency key(s) it was created with (so a
	// create retried with such a key makes a new conversation rather than
	// replaying a deleted one), and its entry in the stuck index. Afterwards
	// Get, List, Stuck and Scan do not return it and every Transition of it
	// answers ENOTFOUND, which is how a job still queued or running for it
	// ends without writing anything back. ENOTFOUND if it does not exist or
	// belongs to someone else. A store that cannot delete the parts
	// atomically orders the deletes so a failure in between leaves the
	// conversation visible and deletable again, never a key or an index
	// entry that brings it back.
	Delete(ctx context.Context, owner, id string) (*Conversation, error)
}

// Idempotency ties a client's Idempotency-Key to the conversation it created.
type Idempotency struct {
	Key string
	// Fingerprint is a digest of the request; a replay with a different body
	// is refused instead of silently returning the wrong conversation.
	Fingerprint string
	// Expires is when the key may be forgotten; stores keep it at least that
	// long (DynamoDB deletes it by TTL some time after).
	Expires time.Time
}

// Event is a change to a conversation's analysis state.
type Event string

// The events, and the states they are allowed from (see Conversation.Apply).
const (
	// EventStart: a worker begins an attempt. pending|processing →
	// processing, and only once the conversation's hold (LeaseUntil) has
	// passed: a start refused for a hold is ECONFLICT with RetryAfter set to
	// the hold's remaining time. It counts the attempt and takes a new hold
	// until Transition.LeaseUntil.
	EventStart Event = "start"
	// EventRetry: an attempt failed and will be retried. processing →
	// pending, held until Transition.LeaseUntil (the retry's backoff).
	EventRetry Event = "retry"
	// EventDone: an attempt succeeded. processing → done.
	EventDone Event = "done"
	// EventFail: the run gives up. pending|processing → failed.
	EventFail Event = "fail"
	// EventTouch: the sweeper re-enqueued it. pending|processing, unchanged
	// but for UpdatedAt.
	EventTouch Event = "touch"
	// EventReprocess: the owner asked for a fresh analysis. done|failed →
	// pending with Run+1 and the previous result cleared; the ref's run is
	// not checked. A run that is still pending or processing is the
	// analysis asked for, so a reprocess then is refused (ECONFLICT) and
	// the Service answers with that run.
	EventReprocess Event = "reprocess"
)

// Transition is one state change, with what it carries.
type Transition struct {
	Event    Event
	At       time.Time
	Analysis *Analysis // EventDone
	Reason   string    // EventRetry, EventFail: why, for a person
	// Refund, on EventRetry, gives back the attempt EventStart counted: a
	// throttled call is the model's limit, not the conversation's fault.
	Refund bool
	// LeaseUntil, on EventStart and EventRetry, is when the hold the event
	// takes on the conversation ends (Conversation.LeaseUntil); zero takes
	// none. A start holds it for one analysis, a retry for its backoff.
	LeaseUntil time.Time
}

// Apply changes c as t says, or returns ECONFLICT when the run is stale, c's
// status does not allow the event, or (for a start) c is still held. The embedded stores call it inside their
// transactions; the DynamoDB store expresses the same rules as condition
// expressions, and the shared store suite checks they agree.
func (c *Conversation) Apply(run int, t Transition) error {
	if t.Event != EventReprocess && run != c.Run {
		return Errorf(ECONFLICT, "conversation %s is on run %d, not %d", c.ID, c.Run, run)
	}
	if !t.Event.allowedFrom(c.Status) {
		return Errorf(ECONFLICT, "conversation %s is %s; %s is not allowed", c.ID, c.Status, t.Event)
	}
	if t.Event == EventStart && c.LeaseUntil.After(t.At) {
		return &Error{Code: ECONFLICT, RetryAfter: c.LeaseUntil.Sub(t.At),
			Message: fmt.Sprintf("conversation %s is held until %s", c.ID, c.LeaseUntil.UTC().Format(time.RFC3339Nano))}
	}
	switch t.Event {
	case EventStart:
		c.Status = StatusProcessing
		c.Attempts++
		c.LeaseUntil = t.LeaseUntil
	case EventRetry:
		c.Status = StatusPending
		c.Error = t.Reason
		c.LeaseUntil = t.LeaseUntil
		if t.Refund && c.Attempts > 0 {
			c.Attempts--
		}
	case EventDone:
		a := t.Analysis
		if a == nil {
			return Errorf(EINVALID, "done transition without an analysis")
		}
		c.Status = StatusDone
		c.Summary = a.Summary
		c.ActionItems = slices.Clone(a.ActionItems)
		c.Items = CarryDone(c.Items, a.Items)
		c.Keywords = slices.Clone(a.Keywords)
		c.Model = a.Model
		c.Usage = a.Usage
		c.Error = ""
		c.ProcessedAt = t.At
		c.LeaseUntil = time.Time{}
	case EventFail:
		c.Status = StatusFailed
		c.Error = t.Reason
		c.ProcessedAt = t.At
		c.LeaseUntil = time.Time{}
	case EventTouch:
	case EventReprocess:
		c.Run++
		c.Status = StatusPending
		c.Attempts = 0
		c.Summary, c.ActionItems, c.Keywords, c.Error, c.Model = "", nil, nil, "", ""
		c.Usage = Usage{}
		c.ProcessedAt = time.Time{}
		c.LeaseUntil = time.Time{}
	default:
		return Errorf(EINVALID, "unknown event %q", t.Event)
	}
	c.UpdatedAt = t.At
	return nil
}

// AllowedFrom lists the statuses an event may be applied in.
func (e Event) AllowedFrom() []Status {
	switch e {
	case EventStart, EventFail, EventTouch:
		return []Status{StatusPending, StatusProcessing}
	case EventRetry, EventDone:
		return []Status{StatusProcessing}
	case EventReprocess:
		return []Status{StatusDone, StatusFailed}
	}
	return nil
}

func (e Event) allowedFrom(s Status) bool { return slices.Contains(e.AllowedFrom(), s) }

// InProgress reports whether the analysis in state s has not finished yet
// (pending or processing): what the sweeper watches and what a direct
// invocation may still work on. It says nothing about how long it has been
// so; the sweeper's Stuck query adds the age.
func (s Status) InProgress() bool { return s == StatusPending || s == StatusProcessing }

// Package recall holds Recall's domain: the conversation record, its analysis
// and action items, the job that carries it through the queue, the typed
// errors every layer speaks (one code each, mapped to HTTP statuses in one
// table elsewhere), the transition rules, the Service and the worker, and the
// interfaces the backends plug into (Store, Queue, Analyzer, Index). It
// imports nothing else of the project, so every backend, the HTTP layer and
// the Lambda functions can depend on it without cycles; backends satisfy its
// interfaces without importing each other.
package recall

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

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
	Summary string `json:"summary"`
	// ActionItems are the action items as plain strings, the speaker or
	// owner written in front ("Alice: send the deck"): the shape existing
	// clients read as ai_action_items. It stays as it is; Items is the
	// structured form.
	ActionItems []string `json:"action_items"`
	// Items are the action items with their owner and due date, each with
	// an ID (ItemID of its text) unique within the conversation: an
	// analyzer drops an item whose ItemKey repeats an earlier one's.
	Items    []ActionItem `json:"items"`
	Keywords []string     `json:"keywords"`
	Model    string       `json:"model"`
	Usage    Usage        `json:"usage"`
	// Calls is how many model calls the analysis took (0 for a cache hit or
	// the local analyzer), so cost per conversation can be measured.
	Calls int `json:"calls,omitempty"`
	// Cached is true when the analysis was reused rather than computed.
	Cached bool `json:"cached,omitempty"`
}

// ActionItem is one thing someone agreed to do, as found in a conversation.
// Owner and Due are nil when the conversation does not say (never guessed),
// and marshal as null, as clients expect; Done and DoneAt are the person's,
// set when they tick the item off and kept across a reprocess by CarryDone.
type ActionItem struct {
	ID     string     `json:"id"`
	Text   string     `json:"text"`
	Owner  *string    `json:"owner"`
	Due    *Date      `json:"due"`
	Done   bool       `json:"done"`
	DoneAt *time.Time `json:"done_at"`
}

// NewActionItem returns the open item for text, with its ID derived from
// the text (ItemID). An empty owner means nobody was named.
func NewActionItem(text, owner string, due *Date) ActionItem {
	it := ActionItem{ID: ItemID(text), Text: text, Due: due}
	if owner != "" {
		it.Owner = &owner
	}
	return it
}

// ItemKey is the normalised text two items must share to be the same item:
// its words (runs of letters and digits) lower-cased and joined by single
// spaces. Apostrophes and hyphens inside a word are dropped ("I’ll" and
// "Ill", "e-mail" and "email" are one word); every other run of punctuation
// or white space is one word break. So case, punctuation and spacing never
// make two texts different, while any added, removed, changed or reordered
// word does.
func ItemKey(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	gap := false
	for i, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if gap && b.Len() > 0 {
				b.WriteByte(' ')
			}
			gap = false
			b.WriteRune(unicode.ToLower(r))
		case isWordJoiner(r) && b.Len() > 0 && !gap && nextIsWordRune(text[i+len(string(r)):]):
			// inside a word: skip it, the word goes on
		default:
			gap = true
		}
	}
	return b.String()
}

func isWordJoiner(r rune) bool {
	switch r {
	case '\'', '’', 'ʼ', '-', '‐', '‑':
		return true
	}
	return false
}

func nextIsWordRune(s string) bool {
	for _, r := range s {
		return unicode.IsLetter(r) || unicode.IsDigit(r)
	}
	return false
}

// itemIDLen is the length of an item ID: 16 hex digits, 64 bits of the
// key's SHA-256, so two different items of one conversation never share one
// in practice.
const itemIDLen = 16

// ItemID is the ID of an item with the given text within its conversation:
// a short hash of ItemKey(text). Essentially the same text gives the same
// ID, so an item keeps its ID (and a client's link to it) when a reprocess
// finds it again.
func ItemID(text string) string {
	sum := sha256.Sum256([]byte(ItemKey(text)))
	return hex.EncodeToString(sum[:itemIDLen/2])
}

// ValidItemID reports whether s has the form of an ID made by ItemID, so
// handlers can refuse anything else before a backend sees it.
func ValidItemID(s string) bool {
	if len(s) != itemIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CarryDone returns items with the done state of old carried over: an item
// whose text is essentially unchanged from an old item's (the same ItemKey:
// equal but for case, punctuation and white space) takes that old item's
// Done and DoneAt. Any other item is returned as it came. An old item with
// no match is not carried anywhere: a reprocess that no longer finds a
// task drops it, ticked or not. Neither argument is modified.
//
// "Essentially unchanged" is deliberately narrow. Matching looser (shared
// words, edit distance) would tick off a task that was reworded into a
// different one ("send the draft" → "send the final"), and a person finds
// a wrongly re-opened item; they never find a wrongly closed one.
func CarryDone(old, items []ActionItem) []ActionItem {
	if items == nil {
		return nil
	}
	out := make([]ActionItem, len(items))
	copy(out, items)
	if len(old) == 0 {
		return out
	}
	prev := make(map[string]*ActionItem, len(old))
	for i := range old {
		if k := ItemKey(old[i].Text); k != "" {
			if _, dup := prev[k]; !dup {
				prev[k] = &old[i]
			}
		}
	}
	for i := range out {
		o, ok := prev[ItemKey(out[i].Text)]
		if !ok {
			continue
		}
		out[i].Done, out[i].DoneAt = o.Done, nil
		if o.DoneAt != nil {
			at := *o.DoneAt
			out[i].DoneAt = &at
		}
	}
	return out
}

// Date is a calendar date with no time of day and no zone: when an action
// item is due. It marshals as "2006-01-02".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate reads a date written as "2006-01-02" and refuses anything else,
// including dates that do not exist ("2026-02-30").
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, Errorf(EINVALID, "%q is not a date (want YYYY-MM-DD)", s)
	}
	return DateOf(t), nil
}

// Valid reports whether d is a real date between the years 1 and 9999,
// the range ParseDate reads and String writes.
func (d Date) Valid() bool {
	return d.Year >= 1 && d.Year <= 9999 && d.Month >= time.January && d.Month <= time.December &&
		d.Day >= 1 && d.Day == d.midday().Day()
}

// midday is d at noon UTC: a time that is on d whatever the arithmetic.
func (d Date) midday() time.Time { return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC) }

// String writes d as "2006-01-02".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day) }

// AddDays returns the date n days after d (before it for negative n).
func (d Date) AddDays(n int) Date { return DateOf(d.midday().AddDate(0, 0, n)) }

// Weekday is the day of the week d falls on.
func (d Date) Weekday() time.Weekday { return d.midday().Weekday() }

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmpInt(d.Year, e.Year)
	case d.Month != e.Month:
		return cmpInt(int(d.Month), int(e.Month))
	}
	return cmpInt(d.Day, e.Day)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MarshalText writes d as "2006-01-02"; it refuses an invalid date so that
// none is ever stored.
func (d Date) MarshalText() ([]byte, error) {
	if !d.Valid() {
		return nil, fmt.Errorf("recall: invalid date %d-%d-%d", d.Year, int(d.Month), d.Day)
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads a date written by MarshalText.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
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
	// LeaseUntil is when the current hold on the conversation ends: an
	// attempt's (EventStart holds it for one analysis) or a retry's backoff
	// (EventRetry). No attempt may start before then, so one run is analysed
	// by one worker at a time, however many deliveries and direct calls
	// race for it, and a retry waits out its backoff whichever way its job
	// arrives. Zero: no hold.
	LeaseUntil time.Time `json:"lease_until,omitzero"`

	// Items are the action items of the last analysis that finished, each
	// with the done state the owner gave it. A reprocess keeps them until
	// its own analysis is done (and then CarryDone keeps the ticks of
	// items found again): they are the owner's to-do list, not the run's,
	// so a run in progress or one that fails never loses a tick.
	Items []ActionItem `json:"items,omitempty"`
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

// InUTC returns a copy of c with every time in UTC. Stores keep times in
// UTC, so what a Create returns is exactly what a later Get reads back.
func (c *Conversation) InUTC() *Conversation {
	n := *c
	n.CreatedAt = n.CreatedAt.UTC()
	n.UpdatedAt = n.UpdatedAt.UTC()
	if !n.ProcessedAt.IsZero() {
		n.ProcessedAt = n.ProcessedAt.UTC()
	}
	if !n.LeaseUntil.IsZero() {
		n.LeaseUntil = n.LeaseUntil.UTC()
	}
	return &n
}

// Job is one unit of work in the queue: analyse run Run of a conversation.
type Job struct {
	ConversationID string    `json:"conversation_id"`
	Owner          string    `json:"owner"`
	Run            int       `json:"run"`
	Priority       Priority  `json:"priority"`
	Attempt        int       `json:"attempt"`
	EnqueuedAt     time.Time `json:"enqueued_at"`
	// Throttles counts the throttled tries this run has had for free (no
	// attempt spent), carried through Retry, so throttling cannot retry a
	// run for ever: past Config.MaxThrottleRetries a throttle spends an
	// attempt like any other failure.
	Throttles int `json:"throttles,omitempty"`
	// IndexRetries counts the failed tries to index this run's settled
	// result. A job with it set was put back only to index: delivered
	// again, it finds the run finished and indexes it (Service.reindex),
	// then leaves the queue as the run's settle would have.
	IndexRetries int `json:"index_retries,omitempty"`
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

package recall

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what a client may send. They are part of the API contract.
const (
	MaxContentChars  = 100_000
	MaxTitleChars    = 500
	MaxPostTypeChars = 64
	MaxIdemKeyChars  = 255
	DefaultPageSize  = 20
	MaxPageSize      = 100
	DefaultPostType  = "update"
)

// Config builds a Service. Store, Queue and Analyzer are required; every other
// field has a default suited to the local runner.
type Config struct {
	Store    Store
	Queue    Queue
	Analyzer Analyzer
	// Index, if set, keeps conversations findable (Search): the create
	// indexes each at once, a run that ends indexes its result, and a
	// delete removes it. Nil: Search answers EUNAVAILABLE.
	Index  Index
	Logger *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// CursorKey signs list cursors so a cursor cannot be forged or used by
	// another owner. Every process serving one store must share it. Left
	// empty, it is a random key made for this process: cursors then work
	// only within the process that issued them, which suits tests and
	// nothing deployed (config demands RECALL_CURSOR_KEY in Lambda).
	CursorKey []byte
	// MaxAttempts is how many attempts a run gets before it fails (5).
	MaxAttempts int
	// RetryBase and RetryMax bound the exponential backoff between attempts
	// (2s and 5m); each delay is jittered.
	RetryBase, RetryMax time.Duration
	// AnalyzeTimeout bounds one analysis (90s). Queue visibility timeouts must
	// be longer.
	AnalyzeTimeout time.Duration
	// LeaseMargin is added to AnalyzeTimeout to make the hold an attempt
	// takes on its conversation (10s): long enough for the analysis and the
	// write of its result, with room for clocks that disagree a little.
	// No other attempt of the run starts until it has passed, unless the
	// holder settles first.
	LeaseMargin time.Duration
	// MaxThrottleRetries is how many throttled tries a run gets without
	// spending an attempt (DefaultMaxThrottleRetries); after that a
	// throttle spends one, so a model that throttles for ever fails the run
	// after MaxAttempts more. A negative value gives none.
	MaxThrottleRetries int
	// StaleAfter is how long a conversation may sit in pending or processing
	// before the sweeper re-enqueues it (15s). Re-enqueueing something the
	// queue still holds is a no-op, so this can be short.
	StaleAfter time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered (24h).
	IdempotencyTTL time.Duration
	// Observer, if set, is told about every job outcome (for metrics).
	Observer Observer
	// Nudger, if set, is told after each successful enqueue, so a deployment
	// whose workers do not poll (Lambda) can start processing at once
	// instead of at the next scheduled drain.
	Nudger Nudger
	// Limiter, if set, holds each owner to the per-owner limits: Admit
	// asks it before a client's create or reprocess, and the worker tells
	// it what each finished analysis spent. Nil: no limits.
	Limiter Limiter
}

// DefaultMaxThrottleRetries is Config.MaxThrottleRetries's default: enough
// free tries to ride out a burst of throttling or a paced backlog, few
// enough that a model that never stops throttling fails the run within
// minutes rather than never.
const DefaultMaxThrottleRetries = 30

// Nudger starts processing of a freshly enqueued job somewhere else. A
// failing nudge is only logged: the job is in the queue and the scheduled
// drain will reach it.
type Nudger interface {
	Nudge(ctx context.Context, job Job) error
}

// Observer receives events worth counting. Implementations must be cheap and
// safe for concurrent use.
type Observer interface {
	ConversationCreated(priority Priority)
	JobFinished(outcome Outcome, attempt int, took time.Duration, a *Analysis)
}

// Service is Recall's application logic: what the HTTP handlers, the worker
// and the Lambda functions call. It owns validation, the order of store and
// queue operations, and the retry policy; backends own storage and delivery.
type Service struct {
	cfg Config
	log *slog.Logger

	sweepMu     sync.Mutex
	sweepCursor string
}

// NewService returns a Service over cfg's backends, filling in defaults.
func NewService(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.AnalyzeTimeout <= 0 {
		cfg.AnalyzeTimeout = 90 * time.Second
	}
	if cfg.LeaseMargin <= 0 {
		cfg.LeaseMargin = 10 * time.Second
	}
	switch {
	case cfg.MaxThrottleRetries == 0:
		cfg.MaxThrottleRetries = DefaultMaxThrottleRetries
	case cfg.MaxThrottleRetries < 0:
		cfg.MaxThrottleRetries = 0
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 15 * time.Second
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = 24 * time.Hour
	}
	if len(cfg.CursorKey) == 0 {
		cfg.CursorKey = processCursorKey()
	}
	return &Service{cfg: cfg, log: cfg.Logger}
}

// processCursorKey signs the cursors of every Service given no CursorKey:
// random, so nobody can know it, and shared within the process, so two
// Services over one store (as in tests) accept each other's cursors.
var processCursorKey = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
})

// Config returns the service's configuration with defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// CreateRequest is what a client sends to create a conversation.
type CreateRequest struct {
	Content  string
	PostType string
	Title    string
	Priority Priority
}

// normalize applies defaults and checks every field, naming the field in the
// error so the client knows what to fix.
func (r *CreateRequest) normalize() error {
	if strings.TrimSpace(r.Content) == "" {
		return Errorf(EINVALID, "content is required and must not be blank")
	}
	if n := utf8.RuneCountInString(r.Content); n > MaxContentChars {
		return Errorf(EINVALID, "content is %d characters; the limit is %d", n, MaxContentChars)
	}
	if r.PostType == "" {
		r.PostType = DefaultPostType
	}
	if n := utf8.RuneCountInString(r.PostType); n > MaxPostTypeChars {
		return Errorf(EINVALID, "post_type is %d characters; the limit is %d", n, MaxPostTypeChars)
	}
	for _, c := range r.PostType {
		if !(c == '_' || c == '-' || unicode.IsLetter(c) || unicode.IsDigit(c)) {
			return Errorf(EINVALID, "post_type may hold only letters, digits, '_' and '-'")
		}
	}
	if n := utf8.RuneCountInString(r.Title); n > MaxTitleChars {
		return Errorf(EINVALID, "title is %d characters; the limit is %d", n, MaxTitleChars)
	}
	if strings.ContainsFunc(r.Title, forbiddenInTitle) {
		return Errorf(EINVALID, "title must not contain control characters other than tab, newline and carriage return")
	}
	if r.Priority == "" {
		r.Priority = PriorityDefault
	}
	if !r.Priority.Valid() {
		return Errorf(EINVALID, "priority must be one of high, default, low")
	}
	return nil
}

// forbiddenInTitle reports the characters a title may not hold: control
// characters, except the tab, newline and carriage return of a title
// pasted from a document.
func forbiddenInTitle(c rune) bool {
	return unicode.IsControl(c) && c != '\t' && c != '\n' && c != '\r'
}

func (r *CreateRequest) fingerprint() string {
	h := sha256.New()
	for _, f := range []string{r.Content, r.PostType, r.Title, string(r.Priority)} {
		fmt.Fprintf(h, "%d:%s", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Create validates req, stores the conversation as pending and enqueues its
// analysis. Once the store has accepted it, Create succeeds even if the queue
// is down: the sweeper enqueues it later, so an accepted conversation is
// never lost. replayed is true when idemKey matched an earlier create.
func (s *Service) Create(ctx context.Context, owner string, req CreateRequest, idemKey string) (c *Conversation, replayed bool, err error) {
	if owner == "" {
		return nil, false, Errorf(EUNAUTHORIZED, "no authenticated owner")
	}
	if err := req.normalize(); err != nil {
		return nil, false, err
	}
	var idem *Idempotency
	if idemKey != "" {
		if len(idemKey) > MaxIdemKeyChars || strings.ContainsFunc(idemKey, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return nil, false, Errorf(EINVALID, "Idempotency-Key must be 1 to %d printable ASCII characters", MaxIdemKeyChars)
		}
		idem = &Idempotency{Key: idemKey, Fingerprint: req.fingerprint(), Expires: s.cfg.Now().Add(s.cfg.IdempotencyTTL)}
	}
	now := s.cfg.Now().UTC()
	c = &Conversation{
		ID: NewID(now), Owner: owner, Title: req.Title, Content: req.Content,
		PostType: req.PostType, Priority: req.Priority, CreatedAt: now, UpdatedAt: now,
		Status: StatusPending, Run: 1,
	}
	stored, created, err := s.cfg.Store.Create(ctx, c, idem)
	if err != nil {
		return nil, false, createErr(err)
	}
	if !created {
		return stored, true, nil
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.ConversationCreated(stored.Priority)
	}
	s.indexCreated(ctx, stored)
	s.enqueue(ctx, stored)
	return stored, false, nil
}

// enqueue hands c's current run to the queue. A failure is logged, not
// returned: the conversation is already durable and the sweeper will enqueue
// it once the queue is back.
func (s *Service) enqueue(ctx context.Context, c *Conversation) {
	job := JobFor(c, s.cfg.Now())
	if err := s.cfg.Queue.Enqueue(ctx, job); err != nil {
		s.log.WarnContext(ctx, "enqueue failed; the sweeper will retry",
			"conversation_id", c.ID, "error", err.Error())
		return
	}
	if s.cfg.Nudger != nil {
		if err := s.cfg.Nudger.Nudge(ctx, job); err != nil {
			s.log.WarnContext(ctx, "nudge failed; the scheduled drain will process it",
				"conversation_id", c.ID, "error", err.Error())
		}
	}
}

// storeErr turns a store failure into what the caller should see: domain
// errors pass through, anything else means the store is unavailable.
func storeErr(err error, doing string) error {
	return unavailable(err, "The conversation store is unavailable and could not "+doing+"; retry shortly.")
}

// unavailable passes err through when it is a domain error (an *Error in
// its chain) and otherwise wraps it as EUNAVAILABLE with message: what a
// backend's own failure means to the caller.
func unavailable(err error, message string) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return Wrap(err, EUNAVAILABLE, message)
}

// createErr is storeErr for a create: a store that failed or did not
// answer may still have written the conversation (a timeout can hide a
// write that landed), so the message says only what is known, and how to
// retry without making a second one.
func createErr(err error) error {
	return unavailable(err, "The conversation store is unavailable or did not confirm the write, so the conversation may or may not have been saved; retry with the same Idempotency-Key.")
}

// Get returns owner's conversation id.
func (s *Service) Get(ctx context.Context, owner, id string) (*Conversation, error) {
	if !ValidID(id) {
		return nil, Errorf(ENOTFOUND, "No conversation with id %q.", Truncate(id, 40))
	}
	c, err := s.cfg.Store.Get(ctx, owner, id)
	if err != nil {
		return nil, storeErr(err, "read the conversation")
	}
	return c, nil
}

// Page is one page of a listing.
type Page struct {
	Items      []*Conversation
	NextCursor string
	// cursor signs a cursor to the items after the given ID, for Cut.
	cursor func(after string) string
}

// Cut returns the page's first n items (at least one) with a cursor to
// the rest, so a caller that finds a page too large to answer with can
// serve part of it without reading the store again. A page of n items or
// fewer is returned as it is.
func (p Page) Cut(n int) Page {
	n = max(n, 1)
	if n >= len(p.Items) || p.cursor == nil {
		return p
	}
	return Page{Items: p.Items[:n], NextCursor: p.cursor(p.Items[n-1].ID), cursor: p.cursor}
}

// List returns a page of owner's conversations, newest first. cursor is one
// returned by an earlier List for the same owner.
func (s *Service) List(ctx context.Context, owner string, limit int, cursor string) (Page, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return Page{}, Errorf(EINVALID, "limit must be between 1 and %d", MaxPageSize)
	}
	after := ""
	if cursor != "" {
		var err error
		if after, err = s.decodeCursor(owner, cursor); err != nil {
			return Page{}, err
		}
	}
	items, more, err := s.cfg.Store.List(ctx, owner, after, limit)
	if err != nil {
		return Page{}, storeErr(err, "list conversations")
	}
	p := Page{Items: items, cursor: func(after string) string { return s.encodeCursor(owner, after) }}
	if more && len(items) > 0 {
		p.NextCursor = p.cursor(items[len(items)-1].ID)
	}
	return p, nil
}

// A cursor is the last ID of a page and an HMAC binding it to the owner, so a
// forged cursor or one from another owner's listing is refused.
func (s *Service) encodeCursor(owner, after string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte(after), s.cursorMAC(owner, after)...))
}

func (s *Service) decodeCursor(owner, cursor string) (string, error) {
	bad := Errorf(EINVALID, "cursor is not valid for this listing; start again without it")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= 26 {
		return "", bad
	}
	after, mac := string(raw[:26]), raw[26:]
	if !ValidID(after) || !hmac.Equal(mac, s.cursorMAC(owner, after)) {
		return "", bad
	}
	return after, nil
}

func (s *Service) cursorMAC(owner, after string) []byte {
	m := hmac.New(sha256.New, s.cfg.CursorKey)
	m.Write([]byte(owner))
	m.Write([]byte{0})
	m.Write([]byte(after))
	return m.Sum(nil)[:16]
}

// Reprocess starts a new analysis run for owner's conversation id. While a
// run is still pending or processing it starts none and returns that run:
// it is the analysis asked for, and repeated requests must not buy one
// model call each.
func (s *Service) Reprocess(ctx context.Context, owner, id string) (*Conversation, error) {
	if !ValidID(id) {
		return nil, Errorf(ENOTFOUND, "No conversation with id %q.", Truncate(id, 40))
	}
	c, restarted, err := s.restart(ctx, Ref{ID: id, Owner: owner})
	if err != nil {
		return nil, storeErr(err, "restart the analysis")
	}
	if restarted {
		s.enqueue(ctx, c)
	}
	return c, nil
}

// restart moves a finished conversation to a new run, or returns the run
// in progress (restarted false). The store decides atomically, so of many
// concurrent requests one restarts and the others see its run.
func (s *Service) restart(ctx context.Context, ref Ref) (*Conversation, bool, error) {
	for range 3 {
		c, err := s.cfg.Store.Transition(ctx, ref, Transition{Event: EventReprocess, At: s.cfg.Now().UTC()})
		if ErrorCode(err) != ECONFLICT {
			return c, err == nil, err
		}
		if c, err = s.cfg.Store.Get(ctx, ref.Owner, ref.ID); err != nil || c.Status.InProgress() {
			return c, false, err
		}
		// It finished between the two reads: try again.
	}
	return nil, false, Errorf(ECONFLICT, "conversation %s is changing under concurrent requests; retry", ref.ID)
}

// Health is the state of each component, for /api/health.
type Health struct {
	Healthy bool
	// Components maps each component to "ok" (the analyzer: its kind,
	// such as "local" or "configured") or, failing, one of the Health*
	// statuses.
	Components map[string]string
}

// The statuses of a failing component on /api/health: short, because the
// answer is public; the details are logged.
const (
	// HealthUnavailable: it does not answer, or answers with a fault.
	HealthUnavailable = "unavailable"
	// HealthMisconfigured: it answers but refuses us (credentials, access,
	// a missing table or model): a person must fix the configuration.
	HealthMisconfigured = "misconfigured"
	// HealthThrottled: it answers but asks us to slow down.
	HealthThrottled = "throttled"
	// HealthNotConfigured is the search component of a deployment that has
	// no search index: a choice, not a failure, so health stays healthy
	// while search answers EUNSUPPORTED.
	HealthNotConfigured = "not_configured"
)

// healthStatus is the public status of a component whose check failed
// with err.
func healthStatus(err error) string {
	switch ErrorCode(err) {
	case EPERMISSION, EUNAUTHORIZED, EINVALID, ENOTFOUND:
		return HealthMisconfigured
	case ETHROTTLED:
		return HealthThrottled
	}
	return HealthUnavailable
}

// HealthTimeout bounds each component's check so health answers promptly
// even when a component hangs.
const HealthTimeout = 800 * time.Millisecond

// Health checks the store, the queue, the analyzer and the search index
// (HealthNotConfigured when there is none) concurrently, each within HealthTimeout. It never
// calls the model.
func (s *Service) Health(ctx context.Context) Health {
	type result struct {
		name, state string
		ok          bool
	}
	checks := map[string]func(context.Context) (string, error){
		"database": func(ctx context.Context) (string, error) { return "ok", s.cfg.Store.Ping(ctx) },
		"queue":    func(ctx context.Context) (string, error) { return "ok", s.cfg.Queue.Ping(ctx) },
		"ai":       s.cfg.Analyzer.Health,
	}
	checks["search"] = func(context.Context) (string, error) { return HealthNotConfigured, nil }
	if s.cfg.Index != nil {
		checks["search"] = func(ctx context.Context) (string, error) { return "ok", s.cfg.Index.Ping(ctx) }
	}
	out := make(chan result, len(checks))
	for name, check := range checks {
		go func() {
			ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
			defer cancel()
			done := make(chan result, 1)
			go func() {
				state, err := check(ctx)
				if err != nil {
					// Health is public: it names the component and a short
					// status; the cause (which may name a model, a region,
					// a host or an IAM policy) goes to the log, and recall
					// doctor prints its own.
					s.log.WarnContext(ctx, "health check failed", "component", name, "error", err.Error())
					done <- result{name, healthStatus(err), false}
					return
				}
				done <- result{name, state, true}
			}()
			select {
			case r := <-done:
				out <- r
			case <-ctx.Done():
				s.log.WarnContext(ctx, "health check failed", "component", name, "error", "no answer within "+HealthTimeout.String())
				out <- result{name, HealthUnavailable, false}
			}
		}()
	}
	h := Health{Healthy: true, Components: make(map[string]string, len(checks))}
	for range checks {
		r := <-out
		h.Components[r.name] = r.state
		h.Healthy = h.Healthy && r.ok
	}
	return h
}

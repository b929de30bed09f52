package recalltest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"recall/internal/recall"
)

// Store runs the shared Store suite. open is called once per subtest,
// possibly from several goroutines at once, and must return a new, empty
// store that it closes with t.Cleanup.
//
// The suite checks what recall.Store's comments promise: round trips down to
// the nanosecond, owner isolation, idempotency keys, newest-first paging,
// every transition against the state machine written out in
// transitionRules (not against Conversation.Apply, which the stores use),
// conditional writes and holds under a race, the stuck index, content
// at the size limit, and deletes.
func Store(t *testing.T, open func(t *testing.T) recall.Store) {
	t.Helper()
	runStoreCases(t, open, []storeCase{
		{"CreateGet", storeCreateGet},
		{"OwnerIsolation", storeOwnerIsolation},
		{"Idempotency", storeIdempotency},
		{"List", storeList},
		{"Transitions", storeTransitions},
		{"TransitionRefs", storeTransitionRefs},
		{"Reprocess", storeReprocess},
		{"ConcurrentDone", storeConcurrentDone},
		{"ConcurrentStart", storeConcurrentStart},
		{"Stuck", storeStuck},
		{"Ping", storePing},
		{"LargeContent", storeLargeContent},
		{"Delete", storeDelete},
		{"DeleteDone", storeDeleteDone},
	})
}

// storeCase is one subtest of a store suite (Store, Items, Scanner).
type storeCase struct {
	name string
	fn   func(t *testing.T, s recall.Store)
}

// runStoreCases runs each case as a parallel subtest on a new store from
// open.
func runStoreCases(t *testing.T, open func(t *testing.T) recall.Store, cases []storeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// storeBase is the suite's clock origin: a time with every nanosecond digit set,
// so a store that rounds anywhere is caught.
var storeBase = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// at returns storeBase plus d.
func storeAt(d time.Duration) time.Time { return storeBase.Add(d) }

// NewConversation returns a pending, run-1 conversation of owner created at
// t, with every field the client sets filled in. Store and service tests use
// it to make records without going through the Service.
func NewConversation(owner string, t time.Time) *recall.Conversation {
	t = t.UTC()
	return &recall.Conversation{
		ID:        recall.NewID(t),
		Owner:     owner,
		Title:     "Standup — 周一 🚀",
		Content:   "Alice: ship the release on Friday.\nBob: I will write the notes. Ünïcödé and 日本語 too.",
		PostType:  "meeting_notes",
		Priority:  recall.PriorityHigh,
		CreatedAt: t,
		UpdatedAt: t,
		Status:    recall.StatusPending,
		Run:       1,
	}
}

func storeAnalysis(tag string) *recall.Analysis {
	return &recall.Analysis{
		Summary:     "Summary " + tag + ": the team agreed to ship on Friday. 完了 ✅",
		ActionItems: []string{"Bob: write release notes (" + tag + ")", "Alice: tag v1.2"},
		Keywords:    []string{"release", "friday", tag},
		Model:       "model-" + tag,
		Usage:       recall.Usage{InputTokens: 1234, OutputTokens: 56},
		Items:       storeItems(tag),
	}
}

func storeCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCreateConv(t *testing.T, s recall.Store, c *recall.Conversation) *recall.Conversation {
	t.Helper()
	got, created, err := s.Create(storeCtx(t), c, nil)
	if err != nil {
		t.Fatalf("Create(%s): %v", c.ID, err)
	}
	if !created {
		t.Fatalf("Create(%s): created = false for a new conversation", c.ID)
	}
	return got
}

func mustTransitConv(t *testing.T, s recall.Store, c *recall.Conversation, tr recall.Transition) *recall.Conversation {
	t.Helper()
	got, err := s.Transition(storeCtx(t), c.Ref(), tr)
	if err != nil {
		t.Fatalf("Transition(%s, %s): %v", c.ID, tr.Event, err)
	}
	return got
}

func mustGetConv(t *testing.T, s recall.Store, owner, id string) *recall.Conversation {
	t.Helper()
	got, err := s.Get(storeCtx(t), owner, id)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", owner, id, err)
	}
	return got
}

// WantCode fails t unless err carries the recall error code want.
func WantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := recall.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

// EqualConversation fails t unless got and want agree on every field, times
// compared with Equal and nil and empty slices treated alike.
func EqualConversation(t *testing.T, got, want *recall.Conversation) {
	t.Helper()
	if diff := diffConversation(got, want, true); diff != "" {
		t.Fatalf("conversation %s differs:\n%s", want.ID, diff)
	}
}

func diffConversation(got, want *recall.Conversation, withContent bool) string {
	if got == nil || want == nil {
		if got == want {
			return ""
		}
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	var d []string
	cmp := func(name string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("  %s: got %q, want %q", name, fmt.Sprint(g), fmt.Sprint(w)))
		}
	}
	cmpTime := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			d = append(d, fmt.Sprintf("  %s: got %s, want %s", name, g.Format(time.RFC3339Nano), w.Format(time.RFC3339Nano)))
		}
	}
	cmpList := func(name string, g, w []string) {
		if !slices.Equal(g, w) {
			d = append(d, fmt.Sprintf("  %s: got %q, want %q", name, g, w))
		}
	}
	cmp("ID", got.ID, want.ID)
	cmp("Owner", got.Owner, want.Owner)
	cmp("Title", got.Title, want.Title)
	if withContent && got.Content != want.Content {
		d = append(d, fmt.Sprintf("  Content: got %d bytes (%.40q…), want %d bytes (%.40q…)",
			len(got.Content), got.Content, len(want.Content), want.Content))
	}
	cmp("PostType", got.PostType, want.PostType)
	cmp("Priority", got.Priority, want.Priority)
	cmpTime("CreatedAt", got.CreatedAt, want.CreatedAt)
	cmpTime("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	cmp("Status", got.Status, want.Status)
	cmp("Run", got.Run, want.Run)
	cmp("Attempts", got.Attempts, want.Attempts)
	cmp("Summary", got.Summary, want.Summary)
	cmpList("ActionItems", got.ActionItems, want.ActionItems)
	cmpList("Keywords", got.Keywords, want.Keywords)
	cmp("Error", got.Error, want.Error)
	cmp("Model", got.Model, want.Model)
	cmp("Usage", got.Usage, want.Usage)
	cmpTime("ProcessedAt", got.ProcessedAt, want.ProcessedAt)
	cmpTime("LeaseUntil", got.LeaseUntil, want.LeaseUntil)
	if diff := diffItems(got.Items, want.Items); diff != "" {
		d = append(d, "  Items: "+diff)
	}
	return strings.Join(d, "\n")
}

func storeCreateGet(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	c := NewConversation("alice", storeBase)
	got, created, err := s.Create(ctx, c, nil)
	if err != nil || !created {
		t.Fatalf("Create = (created %v, %v), want created", created, err)
	}
	EqualConversation(t, got, c)
	EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)

	// A time in another zone is the same instant after the round trip.
	zoned := NewConversation("alice", storeBase.Add(time.Second))
	zoned.CreatedAt = zoned.CreatedAt.In(time.FixedZone("IST", 5*3600+1800))
	zoned.UpdatedAt = zoned.CreatedAt
	mustCreateConv(t, s, zoned)
	EqualConversation(t, mustGetConv(t, s, "alice", zoned.ID), zoned)

	// Empty optional fields survive too.
	bare := NewConversation("alice", storeBase.Add(2*time.Second))
	bare.Title, bare.Priority = "", recall.PriorityLow
	mustCreateConv(t, s, bare)
	EqualConversation(t, mustGetConv(t, s, "alice", bare.ID), bare)

	// Every result field, as Done writes them, round-trips, and so does a
	// hold to the nanosecond.
	started := mustTransitAsTable(t, s, c, recall.Transition{Event: recall.EventStart, At: storeAt(time.Minute), LeaseUntil: storeAt(3*time.Minute + 1)})
	want := mustTransitAsTable(t, s, started, recall.Transition{Event: recall.EventDone, At: storeAt(2*time.Minute + 7), Analysis: storeAnalysis("x")})

	_, _, err = s.Create(ctx, NewConversationWithID(c), nil)
	WantCode(t, err, recall.ECONFLICT)
	EqualConversation(t, mustGetConv(t, s, "alice", c.ID), want)

	_, err = s.Get(ctx, "alice", recall.NewID(storeBase))
	WantCode(t, err, recall.ENOTFOUND)
}

// NewConversationWithID returns a fresh pending conversation that reuses c's
// ID and owner, for checking that Create refuses to overwrite.
func NewConversationWithID(c *recall.Conversation) *recall.Conversation {
	n := NewConversation(c.Owner, c.CreatedAt)
	n.ID = c.ID
	n.Content = "a different body"
	return n
}

func storeOwnerIsolation(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	c := mustCreateConv(t, s, NewConversation("alice", storeBase))
	mustCreateConv(t, s, NewConversation("alice", storeBase.Add(time.Second)))

	_, err := s.Get(ctx, "bob", c.ID)
	WantCode(t, err, recall.ENOTFOUND)
	items, more, err := s.List(ctx, "bob", "", 10)
	if err != nil || len(items) != 0 || more {
		t.Fatalf("List(bob) = %d items, more %v, %v; want none", len(items), more, err)
	}
	// An owner that is a prefix of another, or the other way round, sees
	// nothing either.
	for _, owner := range []string{"alic", "alice2", "alice\x00", ""} {
		if items, _, err := s.List(ctx, owner, "", 10); err != nil || len(items) != 0 {
			t.Fatalf("List(%q) = %d items, %v; want none", owner, len(items), err)
		}
	}
	for _, ev := range []recall.Event{recall.EventStart, recall.EventReprocess, recall.EventFail} {
		_, err = s.Transition(ctx, recall.Ref{ID: c.ID, Owner: "bob", Run: 1}, recall.Transition{Event: ev, At: storeAt(time.Minute)})
		WantCode(t, err, recall.ENOTFOUND)
	}
	EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)
}

// storeIdempotency checks the promises an idempotency key makes, one
// subtest each, against one store in which alice's first conversation was
// created with key-1. The subtests run in order and share the store, so
// each uses keys and timestamps of its own.
func storeIdempotency(t *testing.T, s recall.Store) {
	x := idemFixture{s: s, future: time.Now().Add(time.Hour)}
	x.first = NewConversation("alice", storeBase)
	got, created, err := s.Create(storeCtx(t), x.first, &recall.Idempotency{Key: "key-1", Fingerprint: "fp-1", Expires: x.future})
	if err != nil || !created {
		t.Fatalf("first Create = (created %v, %v)", created, err)
	}
	EqualConversation(t, got, x.first)

	for _, tt := range []struct {
		name string
		fn   func(*testing.T, idemFixture)
	}{
		{"ReplayReturnsFirst", idemReplayReturnsFirst},
		{"DifferentFingerprintConflicts", idemDifferentFingerprintConflicts},
		{"KeysArePerOwner", idemKeysArePerOwner},
		{"ExpiredKeyIsAbsent", idemExpiredKeyIsAbsent},
		{"ConflictWritesNothing", idemConflictWritesNothing},
		{"ConcurrentSameKey", idemConcurrentSameKey},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, x) })
	}
}

// idemFixture is the store storeIdempotency's subtests share: first was
// created by alice with key-1 and fingerprint fp-1, and future is the live
// expiry every key that should hold is given.
type idemFixture struct {
	s      recall.Store
	first  *recall.Conversation
	future time.Time
}

// idemReplayReturnsFirst: the same request again (same key, same
// fingerprint) returns the first conversation and creates nothing, which
// is what makes a client's retry safe.
func idemReplayReturnsFirst(t *testing.T, x idemFixture) {
	ctx := storeCtx(t)
	again := NewConversation("alice", storeBase.Add(time.Second))
	got, created, err := x.s.Create(ctx, again, &recall.Idempotency{Key: "key-1", Fingerprint: "fp-1", Expires: x.future})
	if err != nil || created {
		t.Fatalf("replay = (created %v, %v), want the first conversation", created, err)
	}
	EqualConversation(t, got, x.first)
	_, err = x.s.Get(ctx, "alice", again.ID)
	WantCode(t, err, recall.ENOTFOUND)
}

// idemDifferentFingerprintConflicts: a key reused for a different request
// is refused and creates nothing, rather than answering with a conversation
// the request did not describe.
func idemDifferentFingerprintConflicts(t *testing.T, x idemFixture) {
	ctx := storeCtx(t)
	other := NewConversation("alice", storeBase.Add(2*time.Second))
	_, _, err := x.s.Create(ctx, other, &recall.Idempotency{Key: "key-1", Fingerprint: "fp-2", Expires: x.future})
	WantCode(t, err, recall.ECONFLICT)
	_, err = x.s.Get(ctx, "alice", other.ID)
	WantCode(t, err, recall.ENOTFOUND)
}

// idemKeysArePerOwner: one owner's key never answers another's request, so
// owners cannot collide on (or probe) each other's keys.
func idemKeysArePerOwner(t *testing.T, x idemFixture) {
	bobs := NewConversation("bob", storeBase.Add(3*time.Second))
	got, created, err := x.s.Create(storeCtx(t), bobs, &recall.Idempotency{Key: "key-1", Fingerprint: "fp-other", Expires: x.future})
	if err != nil || !created {
		t.Fatalf("bob's Create with alice's key = (created %v, %v), want created", created, err)
	}
	EqualConversation(t, got, bobs)
}

// idemExpiredKeyIsAbsent: an expired key is as if never used, whatever the
// fingerprint, until a create renews it with a live expiry.
func idemExpiredKeyIsAbsent(t *testing.T, x idemFixture) {
	ctx := storeCtx(t)
	past := time.Now().Add(-time.Minute)
	old := NewConversation("alice", storeBase.Add(4*time.Second))
	if _, created, err := x.s.Create(ctx, old, &recall.Idempotency{Key: "key-old", Fingerprint: "fp-1", Expires: past}); err != nil || !created {
		t.Fatalf("Create = (created %v, %v)", created, err)
	}
	for i, fp := range []string{"fp-1", "fp-changed"} {
		fresh := NewConversation("alice", storeBase.Add(time.Duration(5+i)*time.Second))
		got, created, err := x.s.Create(ctx, fresh, &recall.Idempotency{Key: "key-old", Fingerprint: fp, Expires: past})
		if err != nil || !created {
			t.Fatalf("Create with an expired key (%s) = (created %v, %v), want a new conversation", fp, created, err)
		}
		EqualConversation(t, got, fresh)
	}
	// Once renewed with a live expiry the key holds again.
	renewed := NewConversation("alice", storeBase.Add(8*time.Second))
	if _, created, err := x.s.Create(ctx, renewed, &recall.Idempotency{Key: "key-old", Fingerprint: "fp-3", Expires: x.future}); err != nil || !created {
		t.Fatalf("Create = (created %v, %v)", created, err)
	}
	got, created, err := x.s.Create(ctx, NewConversation("alice", storeBase.Add(9*time.Second)), &recall.Idempotency{Key: "key-old", Fingerprint: "fp-3", Expires: x.future})
	if err != nil || created {
		t.Fatalf("replay of renewed key = (created %v, %v)", created, err)
	}
	EqualConversation(t, got, renewed)
}

// idemConflictWritesNothing: a create refused for its ID must not leave its
// key behind, or the key would later answer with a conversation it never
// created.
func idemConflictWritesNothing(t *testing.T, x idemFixture) {
	ctx := storeCtx(t)
	dup := NewConversationWithID(x.first)
	_, _, err := x.s.Create(ctx, dup, &recall.Idempotency{Key: "key-dup", Fingerprint: "fp-dup", Expires: x.future})
	WantCode(t, err, recall.ECONFLICT)
	fresh := NewConversation("alice", storeBase.Add(10*time.Second))
	got, created, err := x.s.Create(ctx, fresh, &recall.Idempotency{Key: "key-dup", Fingerprint: "fp-dup", Expires: x.future})
	if err != nil || !created {
		t.Fatalf("Create after a refused create with the same key = (created %v, %v), want created", created, err)
	}
	EqualConversation(t, got, fresh)
}

// idemConcurrentSameKey: creates racing with one key make one conversation
// between them, and exactly one of them reports creating it; the key is
// checked and written in one atomic step.
func idemConcurrentSameKey(t *testing.T, x idemFixture) {
	ctx := storeCtx(t)
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]int{}
		created int
	)
	for i := range n {
		wg.Go(func() {
			c := NewConversation("carol", storeBase.Add(time.Duration(i)*time.Millisecond))
			got, ok, err := x.s.Create(ctx, c, &recall.Idempotency{Key: "race", Fingerprint: "fp", Expires: x.future})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			ids[got.ID]++
			if ok {
				created++
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 || created != 1 {
		t.Fatalf("%d concurrent creates with one key made %d conversations (%d created=true), want 1", n, len(ids), created)
	}
	items, _, err := x.s.List(ctx, "carol", "", 100)
	if err != nil || len(items) != 1 {
		t.Fatalf("List(carol) = %d items, %v; want 1", len(items), err)
	}
}

func storeList(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	const n = 15
	var all []*recall.Conversation // newest first
	for i := range n {
		c := NewConversation("alice", storeBase.Add(time.Duration(i)*time.Second))
		c.Content = fmt.Sprintf("conversation %d", i)
		mustCreateConv(t, s, c)
		all = append([]*recall.Conversation{c}, all...)
		// Another owner's items interleave and must never show.
		mustCreateConv(t, s, NewConversation("bob", storeBase.Add(time.Duration(i)*time.Second+time.Millisecond)))
	}
	if items, more, err := s.List(ctx, "nobody", "", 5); err != nil || len(items) != 0 || more {
		t.Fatalf("List(nobody) = %d items, more %v, %v", len(items), more, err)
	}
	for _, limit := range []int{1, 2, 5, 7, 14, 15, 16, 100} {
		t.Run(fmt.Sprint("limit", limit), func(t *testing.T) {
			var got []*recall.Conversation
			after := ""
			for page := 0; ; page++ {
				if page > n {
					t.Fatalf("more than %d pages", n)
				}
				items, more, err := s.List(ctx, "alice", after, limit)
				if err != nil {
					t.Fatalf("List page %d: %v", page, err)
				}
				wantLen := min(limit, n-len(got))
				if len(items) != wantLen {
					t.Fatalf("page %d has %d items, want %d", page, len(items), wantLen)
				}
				got = append(got, items...)
				if wantMore := len(got) < n; more != wantMore {
					t.Fatalf("page %d: more = %v after %d of %d items", page, more, len(got), n)
				}
				if !more {
					break
				}
				after = items[len(items)-1].ID
			}
			for i := range all {
				EqualConversation(t, got[i], all[i])
			}
		})
	}
	// after need not be on a page boundary, nor an existing ID.
	items, more, err := s.List(ctx, "alice", all[3].ID, 4)
	if err != nil || len(items) != 4 || !more || items[0].ID != all[4].ID {
		t.Fatalf("List after item 3 = %d items, more %v, %v", len(items), more, err)
	}
	items, more, err = s.List(ctx, "alice", recall.NewID(storeBase.Add(-time.Hour)), 4)
	if err != nil || len(items) != 0 || more {
		t.Fatalf("List after an ID older than all = %d items, more %v, %v", len(items), more, err)
	}
	items, more, err = s.List(ctx, "alice", recall.NewID(storeBase.Add(time.Hour)), 20)
	if err != nil || len(items) != n || more {
		t.Fatalf("List after an ID newer than all = %d items, more %v, %v", len(items), more, err)
	}
}

// storeInStatus creates a conversation of owner and walks it to status at
// times after t0, not held, returning what the store holds.
func storeInStatus(t *testing.T, s recall.Store, owner string, status recall.Status, t0 time.Time) *recall.Conversation {
	t.Helper()
	return storeInState(t, s, owner, string(status), t0, t0.Add(10*time.Second))
}

func storeTransitionRefs(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	c := storeInStatus(t, s, "alice", recall.StatusProcessing, storeBase)
	for _, tc := range []struct {
		name string
		ref  recall.Ref
		ev   recall.Event
		code string
	}{
		{"stale run", recall.Ref{ID: c.ID, Owner: "alice", Run: 2}, recall.EventStart, recall.ECONFLICT},
		{"zero run", recall.Ref{ID: c.ID, Owner: "alice", Run: 0}, recall.EventFail, recall.ECONFLICT},
		{"missing", recall.Ref{ID: recall.NewID(storeBase), Owner: "alice", Run: 1}, recall.EventStart, recall.ENOTFOUND},
		{"missing reprocess", recall.Ref{ID: recall.NewID(storeBase), Owner: "alice"}, recall.EventReprocess, recall.ENOTFOUND},
		{"other owner", recall.Ref{ID: c.ID, Owner: "bob", Run: 1}, recall.EventTouch, recall.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := recall.Transition{Event: tc.ev, At: storeAt(time.Hour), Reason: "x", Analysis: storeAnalysis("x")}
			_, err := s.Transition(ctx, tc.ref, tr)
			WantCode(t, err, tc.code)
			EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)
		})
	}
}

func storeReprocess(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	c := storeInStatus(t, s, "alice", recall.StatusDone, storeBase)
	if c.Summary == "" || c.ProcessedAt.IsZero() {
		t.Fatalf("done conversation has no result: %+v", c)
	}
	// The ref's run is ignored: the owner does not know it.
	for i, run := range []int{0, 99} {
		at := storeAt(time.Duration(i+1) * time.Hour)
		tr := recall.Transition{Event: recall.EventReprocess, At: at}
		want := wantAfter(c, tr, ruleFor(t, c, tr))
		got, err := s.Transition(ctx, recall.Ref{ID: c.ID, Owner: "alice", Run: run}, tr)
		if err != nil {
			t.Fatalf("reprocess: %v", err)
		}
		EqualConversation(t, got, want)
		if got.Run != c.Run+1 || got.Status != recall.StatusPending || got.Summary != "" || got.Attempts != 0 || !got.ProcessedAt.IsZero() {
			t.Fatalf("reprocess left run %d status %s summary %q attempts %d", got.Run, got.Status, got.Summary, got.Attempts)
		}
		// A run in progress is not restarted.
		_, err = s.Transition(ctx, recall.Ref{ID: c.ID, Owner: "alice", Run: run}, recall.Transition{Event: recall.EventReprocess, At: at.Add(time.Second)})
		WantCode(t, err, recall.ECONFLICT)
		EqualConversation(t, mustGetConv(t, s, "alice", c.ID), got)
		c = mustTransitConv(t, s, got, recall.Transition{Event: recall.EventFail, At: at.Add(2 * time.Second), Reason: "again"})
	}
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventReprocess, At: storeAt(3 * time.Hour)})
	EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)

	// The old run's worker finishing late must not overwrite the new run.
	old := recall.Ref{ID: c.ID, Owner: "alice", Run: 1}
	_, err := s.Transition(ctx, old, recall.Transition{Event: recall.EventStart, At: storeAt(3 * time.Hour)})
	WantCode(t, err, recall.ECONFLICT)
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: storeAt(4 * time.Hour)})
	for _, ev := range []recall.Event{recall.EventDone, recall.EventRetry, recall.EventFail, recall.EventTouch} {
		_, err = s.Transition(ctx, old, recall.Transition{Event: ev, At: storeAt(5 * time.Hour), Analysis: storeAnalysis("stale"), Reason: "stale"})
		WantCode(t, err, recall.ECONFLICT)
	}
	EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)
}

func storeConcurrentDone(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	for round := range 6 {
		status := recall.StatusProcessing
		if round%2 == 1 {
			status = recall.StatusDone
		}
		c := storeInStatus(t, s, "alice", status, storeBase.Add(time.Duration(round)*time.Minute))
		if round%2 == 1 {
			// Half the rounds race on a later run, whose predecessor's
			// result must then be refused.
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventReprocess, At: c.UpdatedAt.Add(time.Second)})
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: c.UpdatedAt.Add(time.Second)})
		}
		var (
			wg   sync.WaitGroup
			errs [2]error
			got  [2]*recall.Conversation
		)
		start := make(chan struct{})
		for i := range 2 {
			wg.Go(func() {
				<-start
				got[i], errs[i] = s.Transition(ctx, c.Ref(), recall.Transition{
					Event: recall.EventDone, At: c.UpdatedAt.Add(time.Minute), Analysis: storeAnalysis(fmt.Sprint("w", i)),
				})
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch recall.ErrorCode(err) {
			case "":
				if winner >= 0 {
					t.Fatalf("round %d: both concurrent done transitions succeeded", round)
				}
				winner = i
			case recall.ECONFLICT:
			default:
				t.Fatalf("round %d: worker %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: neither done transition succeeded: %v", round, errs)
		}
		stored := mustGetConv(t, s, "alice", c.ID)
		EqualConversation(t, stored, got[winner])
		if want := storeAnalysis(fmt.Sprint("w", winner)).Summary; stored.Summary != want {
			t.Fatalf("round %d: stored summary %q, want the winner's %q", round, stored.Summary, want)
		}
		if round%2 == 1 {
			_, err := s.Transition(ctx, recall.Ref{ID: c.ID, Owner: "alice", Run: c.Run - 1}, recall.Transition{
				Event: recall.EventDone, At: c.UpdatedAt.Add(time.Hour), Analysis: storeAnalysis("stale"),
			})
			WantCode(t, err, recall.ECONFLICT)
			EqualConversation(t, mustGetConv(t, s, "alice", c.ID), stored)
		}
	}
}

// storeStuckAll pages through Stuck with limit and returns every item.
func storeStuckAll(t *testing.T, s recall.Store, before time.Time, limit int) []*recall.Conversation {
	t.Helper()
	var all []*recall.Conversation
	cursor := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("Stuck: more than 100 pages")
		}
		items, next, err := s.Stuck(storeCtx(t), before, cursor, limit)
		if err != nil {
			t.Fatalf("Stuck(cursor %q): %v", cursor, err)
		}
		if len(items) > limit {
			t.Fatalf("Stuck returned %d items for limit %d", len(items), limit)
		}
		if next != "" && len(items) != limit {
			t.Fatalf("Stuck page %d has %d items for limit %d but a next cursor", page, len(items), limit)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

func storeWantStuck(t *testing.T, got []*recall.Conversation, want ...*recall.Conversation) {
	t.Helper()
	ids := func(cs []*recall.Conversation) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID+"@"+c.UpdatedAt.UTC().Format(time.RFC3339Nano))
		}
		return out
	}
	if len(got) != len(want) {
		t.Fatalf("Stuck = %q\nwant   %q", ids(got), ids(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Owner != w.Owner || g.Run != w.Run || g.Priority != w.Priority ||
			g.Status != w.Status || g.Attempts != w.Attempts || !g.UpdatedAt.Equal(w.UpdatedAt) {
			t.Fatalf("Stuck item %d = %+v\nwant %+v\n(all: %q)", i, g, w, ids(got))
		}
	}
}

func storeStuck(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	cutoff := storeAt(5 * time.Second)
	mk := func(owner string, d time.Duration, status recall.Status) *recall.Conversation {
		t.Helper()
		c := NewConversation(owner, storeAt(d))
		c.Priority = recall.Priorities[(int(d/time.Second)%3+3)%3]
		c = mustCreateConv(t, s, c)
		switch status {
		case recall.StatusProcessing:
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: c.UpdatedAt})
		case recall.StatusDone:
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: c.UpdatedAt})
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventDone, At: c.UpdatedAt, Analysis: storeAnalysis("s")})
		case recall.StatusFailed:
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventFail, At: c.UpdatedAt, Reason: "no"})
		}
		return c
	}
	if items, next, err := s.Stuck(ctx, cutoff, "", 10); err != nil || len(items) != 0 || next != "" {
		t.Fatalf("Stuck on an empty store = %d items, next %q, %v", len(items), next, err)
	}
	a := mk("alice", 1*time.Second, recall.StatusPending)
	b := mk("alice", 2*time.Second, recall.StatusProcessing)
	c := mk("alice", 3*time.Second, recall.StatusPending)
	g := mk("alice", 3*time.Second, recall.StatusPending) // same time as c: ID breaks the tie
	d := mk("alice", 500*time.Millisecond, recall.StatusDone)
	mk("alice", 700*time.Millisecond, recall.StatusFailed)
	late := mk("alice", 10*time.Second, recall.StatusPending)    // after the cutoff
	atCutoff := mk("alice", 5*time.Second, recall.StatusPending) // at the cutoff: not before it
	h := mk("bob", 4*time.Second, recall.StatusPending)
	z := mk("zed", -72*time.Hour, recall.StatusProcessing) // long stuck

	// c and g tie on time; ID breaks ties, and IDs made for one millisecond
	// by concurrent tests need not be in creation order.
	want := []*recall.Conversation{z, a, b, c, g, h}
	if g.ID < c.ID {
		want = []*recall.Conversation{z, a, b, g, c, h}
	}
	for _, limit := range []int{1, 2, 3, 6, 7, 100} {
		storeWantStuck(t, storeStuckAll(t, s, cutoff, limit), want...)
	}
	// An exact last page has no next cursor.
	items, next, err := s.Stuck(ctx, cutoff, "", len(want))
	if err != nil || next != "" || len(items) != len(want) {
		t.Fatalf("Stuck with limit = total: %d items, next %q, %v", len(items), next, err)
	}
	// Nothing is stuck before the oldest.
	if items, next, err := s.Stuck(ctx, z.UpdatedAt, "", 10); err != nil || len(items) != 0 || next != "" {
		t.Fatalf("Stuck before the oldest = %d items, next %q, %v", len(items), next, err)
	}

	// Transitions move conversations in and out of the index.
	b = mustTransitConv(t, s, b, recall.Transition{Event: recall.EventDone, At: storeAt(6 * time.Second), Analysis: storeAnalysis("b")})
	a = mustTransitConv(t, s, a, recall.Transition{Event: recall.EventTouch, At: storeAt(20 * time.Second)})
	d = mustTransitConv(t, s, d, recall.Transition{Event: recall.EventReprocess, At: storeAt(1500 * time.Millisecond)})
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: storeAt(3500 * time.Millisecond)})
	z = mustTransitConv(t, s, z, recall.Transition{Event: recall.EventFail, At: storeAt(-71 * time.Hour), Reason: "gave up"})
	storeWantStuck(t, storeStuckAll(t, s, cutoff, 2), d, g, c, h)
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventRetry, At: storeAt(3600 * time.Millisecond), Reason: "later"})
	storeWantStuck(t, storeStuckAll(t, s, cutoff, 100), d, g, c, h)
	storeWantStuck(t, storeStuckAll(t, s, storeAt(30*time.Second), 3), d, g, c, h, atCutoff, late, a)
}

func storePing(t *testing.T, s recall.Store) {
	if err := s.Ping(storeCtx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// LargeText returns text of exactly n characters made of 4-byte emoji and,
// if cjk, 3-byte CJK characters, chosen pseudo-randomly so it does not
// compress to nothing.
func LargeText(n int, cjk bool) string {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	var b strings.Builder
	b.Grow(4 * n)
	for i := range n {
		if cjk && i%2 == 1 {
			b.WriteRune(rune(0x4E00 + r.IntN(0x9FFF-0x4E00)))
		} else {
			b.WriteRune(rune(0x1F300 + r.IntN(0x1F64F-0x1F300)))
		}
	}
	return b.String()
}

func storeLargeContent(t *testing.T, s recall.Store) {
	for i, tc := range []struct {
		name string
		cjk  bool
	}{{"emoji_and_cjk", true}, {"all_emoji", false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConversation("alice", storeAt(time.Duration(i)*time.Second))
			c.Content = LargeText(recall.MaxContentChars, tc.cjk)
			c.Title = LargeText(recall.MaxTitleChars, false)
			if n := utf8.RuneCountInString(c.Content); n != recall.MaxContentChars {
				t.Fatalf("content has %d characters", n)
			}
			got := mustCreateConv(t, s, c)
			EqualConversation(t, got, c)
			EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)
			started := mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: storeAt(time.Minute)})
			if started.Content != c.Content {
				t.Fatalf("start returned %d bytes of content, want %d", len(started.Content), len(c.Content))
			}
			a := storeAnalysis("big")
			a.Summary = LargeText(1000, true)
			done := mustTransitConv(t, s, started, recall.Transition{Event: recall.EventDone, At: storeAt(2 * time.Minute), Analysis: a})
			EqualConversation(t, mustGetConv(t, s, "alice", c.ID), done)
			items, _, err := s.List(storeCtx(t), "alice", "", 10)
			if err != nil || len(items) == 0 {
				t.Fatalf("List = %d items, %v", len(items), err)
			}
			EqualConversation(t, items[0], done)
		})
	}
}

package recalltest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/recall"
)

// transitionRule is one cell of the state machine, written out by hand: what
// event does to a conversation in state from.
//
// The suite takes legality and the expected result from this table and
// never from recall.Event.AllowedFrom or Conversation.Apply, which the
// stores themselves use: a test that asked the code under test what to
// expect would pass whatever the code did. So a change to the rules must
// change this table too.
type transitionRule struct {
	// from is the conversation's status, with "_held" when its hold
	// (LeaseUntil) has not passed at the transition's time.
	from string
	// event names a transition of transitionEvents.
	event string
	// allowed is whether the store applies it; a refusal is ECONFLICT and
	// changes nothing.
	allowed bool
	// to is the status after.
	to recall.Status
	// attempts is what happens to Attempts: "+1", "-1", "=" or "reset" (0).
	attempts string
	// run is what is added to Run.
	run int
	// lease is what happens to LeaseUntil: "set" (the transition's), "clear"
	// or "=".
	lease string
	// result is what happens to the analysis fields: "=" (unchanged),
	// "reason" (Error is the transition's reason), "failure" (reason and
	// ProcessedAt), "analysis" (the transition's analysis, Error cleared,
	// ProcessedAt) or "cleared" (every result field emptied).
	result string
	// retryAfter marks a refusal that says when to come back: a start
	// before the hold ends.
	retryAfter bool
}

// transitionRules is every state × event. Columns: from, event, allowed, to,
// attempts, run, lease, result, retryAfter.
var transitionRules = []transitionRule{
	{"pending", "start", true, recall.StatusProcessing, "+1", 0, "set", "=", false},
	{"pending", "retry", false, "", "", 0, "", "", false},
	{"pending", "retry_refund", false, "", "", 0, "", "", false},
	{"pending", "done", false, "", "", 0, "", "", false},
	{"pending", "fail", true, recall.StatusFailed, "=", 0, "clear", "failure", false},
	{"pending", "touch", true, recall.StatusPending, "=", 0, "=", "=", false},
	{"pending", "reprocess", false, "", "", 0, "", "", false},

	{"pending_held", "start", false, "", "", 0, "", "", true},
	{"pending_held", "retry", false, "", "", 0, "", "", false},
	{"pending_held", "retry_refund", false, "", "", 0, "", "", false},
	{"pending_held", "done", false, "", "", 0, "", "", false},
	{"pending_held", "fail", true, recall.StatusFailed, "=", 0, "clear", "failure", false},
	{"pending_held", "touch", true, recall.StatusPending, "=", 0, "=", "=", false},
	{"pending_held", "reprocess", false, "", "", 0, "", "", false},

	{"processing", "start", true, recall.StatusProcessing, "+1", 0, "set", "=", false},
	{"processing", "retry", true, recall.StatusPending, "=", 0, "set", "reason", false},
	{"processing", "retry_refund", true, recall.StatusPending, "-1", 0, "set", "reason", false},
	{"processing", "done", true, recall.StatusDone, "=", 0, "clear", "analysis", false},
	{"processing", "fail", true, recall.StatusFailed, "=", 0, "clear", "failure", false},
	{"processing", "touch", true, recall.StatusProcessing, "=", 0, "=", "=", false},
	{"processing", "reprocess", false, "", "", 0, "", "", false},

	{"processing_held", "start", false, "", "", 0, "", "", true},
	{"processing_held", "retry", true, recall.StatusPending, "=", 0, "set", "reason", false},
	{"processing_held", "retry_refund", true, recall.StatusPending, "-1", 0, "set", "reason", false},
	{"processing_held", "done", true, recall.StatusDone, "=", 0, "clear", "analysis", false},
	{"processing_held", "fail", true, recall.StatusFailed, "=", 0, "clear", "failure", false},
	{"processing_held", "touch", true, recall.StatusProcessing, "=", 0, "=", "=", false},
	{"processing_held", "reprocess", false, "", "", 0, "", "", false},

	{"done", "start", false, "", "", 0, "", "", false},
	{"done", "retry", false, "", "", 0, "", "", false},
	{"done", "retry_refund", false, "", "", 0, "", "", false},
	{"done", "done", false, "", "", 0, "", "", false},
	{"done", "fail", false, "", "", 0, "", "", false},
	{"done", "touch", false, "", "", 0, "", "", false},
	{"done", "reprocess", true, recall.StatusPending, "reset", 1, "clear", "cleared", false},

	{"failed", "start", false, "", "", 0, "", "", false},
	{"failed", "retry", false, "", "", 0, "", "", false},
	{"failed", "retry_refund", false, "", "", 0, "", "", false},
	{"failed", "done", false, "", "", 0, "", "", false},
	{"failed", "fail", false, "", "", 0, "", "", false},
	{"failed", "touch", false, "", "", 0, "", "", false},
	{"failed", "reprocess", true, recall.StatusPending, "reset", 1, "clear", "cleared", false},
}

// transitionStates are the from states of transitionRules.
var transitionStates = []string{"pending", "pending_held", "processing", "processing_held", "done", "failed"}

// transitionEvents are the transitions the table names, without their
// time: at is the transition's time, which the holds they take count from.
func transitionEvents(at time.Time) map[string]recall.Transition {
	return map[string]recall.Transition{
		"start":        {Event: recall.EventStart, LeaseUntil: at.Add(time.Minute + 7)},
		"retry":        {Event: recall.EventRetry, Reason: "model timed out", LeaseUntil: at.Add(30*time.Second + 3)},
		"retry_refund": {Event: recall.EventRetry, Reason: "throttled", Refund: true, LeaseUntil: at.Add(30*time.Second + 5)},
		"done":         {Event: recall.EventDone, Analysis: storeAnalysis("new")},
		"fail":         {Event: recall.EventFail, Reason: "analysis failed: bad input"},
		"touch":        {Event: recall.EventTouch},
		"reprocess":    {Event: recall.EventReprocess},
	}
}

// eventName is tr's name in the table.
func eventName(tr recall.Transition) string {
	if tr.Event == recall.EventRetry && tr.Refund {
		return "retry_refund"
	}
	return string(tr.Event)
}

// stateName is c's from state in the table for a transition at at.
func stateName(c *recall.Conversation, at time.Time) string {
	if c.Status.InProgress() && c.LeaseUntil.After(at) {
		return string(c.Status) + "_held"
	}
	return string(c.Status)
}

// ruleFor returns the table's rule for c under tr.
func ruleFor(t *testing.T, c *recall.Conversation, tr recall.Transition) transitionRule {
	t.Helper()
	from, ev := stateName(c, tr.At), eventName(tr)
	for _, r := range transitionRules {
		if r.from == from && r.event == ev {
			return r
		}
	}
	t.Fatalf("the transition table has no rule for %s from %s", ev, from)
	return transitionRule{}
}

// wantAfter returns what c must become under tr by the table's rule r.
func wantAfter(c *recall.Conversation, tr recall.Transition, r transitionRule) *recall.Conversation {
	w := *c
	w.ActionItems, w.Keywords = slices.Clone(c.ActionItems), slices.Clone(c.Keywords)
	w.Status, w.UpdatedAt, w.Run = r.to, tr.At, c.Run+r.run
	switch r.attempts {
	case "+1":
		w.Attempts++
	case "-1":
		w.Attempts--
	case "reset":
		w.Attempts = 0
	}
	switch r.lease {
	case "set":
		w.LeaseUntil = tr.LeaseUntil
	case "clear":
		w.LeaseUntil = time.Time{}
	}
	switch r.result {
	case "reason":
		w.Error = tr.Reason
	case "failure":
		w.Error, w.ProcessedAt = tr.Reason, tr.At
	case "analysis":
		a := tr.Analysis
		w.Summary, w.ActionItems, w.Keywords, w.Model, w.Usage = a.Summary, slices.Clone(a.ActionItems), slices.Clone(a.Keywords), a.Model, a.Usage
		w.Error, w.ProcessedAt = "", tr.At
		w.Items = recall.CarryDone(c.Items, a.Items) // a reprocess keeps the ticks of items found again
	case "cleared":
		w.Summary, w.ActionItems, w.Keywords, w.Model, w.Usage = "", nil, nil, "", recall.Usage{}
		w.Error, w.ProcessedAt = "", time.Time{}
	}
	return &w
}

// mustTransitAsTable applies tr to c, which the table must allow, and
// checks the store's answer and what it then holds against the table.
func mustTransitAsTable(t *testing.T, s recall.Store, c *recall.Conversation, tr recall.Transition) *recall.Conversation {
	t.Helper()
	r := ruleFor(t, c, tr)
	if !r.allowed {
		t.Fatalf("the table does not allow %s from %s", r.event, r.from)
	}
	want := wantAfter(c, tr, r)
	got := mustTransitConv(t, s, c, tr)
	EqualConversation(t, got, want)
	EqualConversation(t, mustGetConv(t, s, c.Owner, c.ID), want)
	return got
}

// storeInState creates a conversation of owner and walks it to one of the
// table's states, changing it at times after t0 and holding it, if held,
// past at. It returns what the store holds.
func storeInState(t *testing.T, s recall.Store, owner, state string, t0, at time.Time) *recall.Conversation {
	t.Helper()
	status, held := strings.CutSuffix(state, "_held")
	start := recall.Transition{Event: recall.EventStart, At: t0.Add(time.Second), LeaseUntil: t0.Add(3 * time.Second)}
	if held {
		start.LeaseUntil = at.Add(time.Hour + 11)
	}
	c := mustCreateConv(t, s, NewConversation(owner, t0))
	switch recall.Status(status) {
	case recall.StatusPending:
		if held {
			c = mustTransitConv(t, s, c, start)
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventRetry, At: t0.Add(2 * time.Second), Reason: "backing off", LeaseUntil: at.Add(time.Hour + 13)})
		}
	case recall.StatusProcessing:
		c = mustTransitConv(t, s, c, start)
	case recall.StatusDone:
		c = mustTransitConv(t, s, c, start)
		c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventDone, At: t0.Add(2 * time.Second), Analysis: storeAnalysis("prev")})
	case recall.StatusFailed:
		c = mustTransitConv(t, s, c, start)
		c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventFail, At: t0.Add(2 * time.Second), Reason: "gave up"})
	default:
		t.Fatalf("storeInState: unknown state %q", state)
	}
	if got := stateName(c, at); got != state {
		t.Fatalf("storeInState: got %s, want %s", got, state)
	}
	return c
}

// storeTransitions applies every event of the table in every state and
// checks the store refuses or applies it exactly as the table says.
func storeTransitions(t *testing.T, s recall.Store) {
	seen := map[string]bool{}
	for _, r := range transitionRules {
		seen[r.from+"/"+r.event] = true
	}
	for _, st := range transitionStates {
		for ev := range transitionEvents(storeBase) {
			if !seen[st+"/"+ev] {
				t.Fatalf("the transition table has no row for %s from %s", ev, st)
			}
		}
	}
	if len(seen) != len(transitionRules) {
		t.Fatalf("the transition table repeats a row")
	}
	for i, r := range transitionRules {
		t0 := storeBase.Add(time.Duration(i) * time.Minute)
		at := t0.Add(10*time.Second + 123)
		t.Run(r.event+"_from_"+r.from, func(t *testing.T) {
			t.Parallel()
			c := storeInState(t, s, "alice", r.from, t0, at)
			tr := transitionEvents(at)[r.event]
			tr.At = at
			if !r.allowed {
				_, err := s.Transition(storeCtx(t), c.Ref(), tr)
				WantCode(t, err, recall.ECONFLICT)
				want := time.Duration(0)
				if r.retryAfter {
					want = c.LeaseUntil.Sub(at)
				}
				if got := recall.RetryAfter(err); got != want {
					t.Fatalf("refusal says retry after %s, want %s", got, want)
				}
				EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)
				return
			}
			mustTransitAsTable(t, s, c, tr)
		})
	}
	storeTransitionExtras(t, s)
}

// storeTransitionExtras covers what the table's one transition per event
// does not: attempts counted over several tries, a done with an empty
// analysis, and one without any.
func storeTransitionExtras(t *testing.T, s recall.Store) {
	t.Run("attempts_count", func(t *testing.T) {
		t.Parallel()
		base := storeBase.Add(2 * time.Hour)
		c := storeInStatus(t, s, "alice", recall.StatusPending, base)
		for n := 1; n <= 3; n++ {
			at := base.Add(time.Duration(n) * time.Minute)
			c = mustTransitAsTable(t, s, c, recall.Transition{Event: recall.EventStart, At: at, LeaseUntil: at.Add(time.Minute)})
			if c.Attempts != n {
				t.Fatalf("after start %d attempts = %d", n, c.Attempts)
			}
			c = mustTransitAsTable(t, s, c, recall.Transition{Event: recall.EventRetry, At: at.Add(time.Second), Reason: fmt.Sprint("try ", n), LeaseUntil: at.Add(2 * time.Second)})
		}
		at := base.Add(time.Hour)
		c = mustTransitAsTable(t, s, c, recall.Transition{Event: recall.EventStart, At: at, LeaseUntil: at.Add(time.Minute)})
		c = mustTransitAsTable(t, s, c, recall.Transition{Event: recall.EventRetry, At: at.Add(time.Second), Refund: true, Reason: "throttled"})
		if c.Attempts != 3 || c.Error != "throttled" || !c.LeaseUntil.IsZero() {
			t.Fatalf("after a refunded retry attempts = %d, error %q, lease %s; want 3, throttled, none", c.Attempts, c.Error, c.LeaseUntil)
		}
	})
	t.Run("done_empty_analysis", func(t *testing.T) {
		t.Parallel()
		base := storeBase.Add(3 * time.Hour)
		c := storeInStatus(t, s, "alice", recall.StatusProcessing, base)
		mustTransitAsTable(t, s, c, recall.Transition{Event: recall.EventDone, At: base.Add(time.Minute), Analysis: &recall.Analysis{Model: "m"}})
	})
	t.Run("done_without_analysis", func(t *testing.T) {
		t.Parallel()
		c := storeInStatus(t, s, "alice", recall.StatusProcessing, storeBase.Add(4*time.Hour))
		_, err := s.Transition(storeCtx(t), c.Ref(), recall.Transition{Event: recall.EventDone, At: storeBase.Add(5 * time.Hour)})
		WantCode(t, err, recall.EINVALID)
		EqualConversation(t, mustGetConv(t, s, "alice", c.ID), c)
	})
}

// storeConcurrentStart races starts of one pending conversation: the
// store's check of the hold and its write are one step, so exactly one
// start wins, the others are told when the winner's hold ends, and one
// attempt is counted.
func storeConcurrentStart(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	for round := range 4 {
		c := storeInStatus(t, s, "alice", recall.StatusPending, storeBase.Add(time.Duration(round)*time.Minute))
		at := c.UpdatedAt.Add(time.Second)
		const n = 4
		var (
			wg   sync.WaitGroup
			errs [n]error
		)
		begin := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-begin
				_, errs[i] = s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: at, LeaseUntil: at.Add(time.Minute)})
			})
		}
		close(begin)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case recall.ErrorCode(err) != recall.ECONFLICT || recall.RetryAfter(err) != time.Minute:
				t.Fatalf("round %d: a losing start = %v (retry after %s), want a conflict saying 1m", round, err, recall.RetryAfter(err))
			}
		}
		if got := mustGetConv(t, s, "alice", c.ID); won != 1 || got.Attempts != 1 || got.Status != recall.StatusProcessing {
			t.Fatalf("round %d: %d of %d concurrent starts won, attempts %d, status %s; want exactly 1", round, won, n, got.Attempts, got.Status)
		}
	}
}

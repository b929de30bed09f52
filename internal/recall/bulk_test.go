package recall_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

// pagedScanner hands out pages of at most size items, so a few
// conversations cross several page boundaries, and fails the scan call
// numbered failAt (from 1), as a store outage mid-walk would.
type pagedScanner struct {
	recall.Scanner
	size   int
	failAt int
	calls  int
}

func (s *pagedScanner) Scan(ctx context.Context, f recall.ScanFilter, cursor string, limit int) (recall.ScanPage, error) {
	s.calls++
	if s.calls == s.failAt {
		return recall.ScanPage{}, errors.New("connection refused")
	}
	return s.Scanner.Scan(ctx, f, cursor, min(limit, s.size))
}

// hookedStore runs before, when set, ahead of each reprocess transition;
// an error it returns is the transition's.
type hookedStore struct {
	*boltstore.Store
	before func(ctx context.Context) error
}

func (s *hookedStore) Transition(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	if t.Event == recall.EventReprocess && s.before != nil {
		if err := s.before(ctx); err != nil {
			return nil, err
		}
	}
	return s.Store.Transition(ctx, ref, t)
}

// bulkHarness is a service over the embedded store, on a fake clock that
// only the pacer's sleeps (and a test) move.
type bulkHarness struct {
	svc    *recall.Service
	store  *boltstore.Store
	hooked *hookedStore // the service's store
	now    atomic.Int64 // unix nanos
	seeds  []*recall.Conversation
	slept  []time.Duration
	during func() // if set, runs inside each sleep (to cancel, say)
}

// newBulkHarness stores, for each of alice, bob and carol, conversations
// failed, failed, done and pending, changed a second apart from 11:00 (bob
// from 11:00:10, carol from 11:00:20), and for carol two failed ones whose
// ids Recall never made (imported rows, say), which Reprocess refuses.
func newBulkHarness(t *testing.T) *bulkHarness {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := memq.New(memq.Options{})
	t.Cleanup(func() { q.Close() })
	h := &bulkHarness{store: st, hooked: &hookedStore{Store: st}}
	h.now.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	h.svc = recall.NewService(recall.Config{Store: h.hooked, Queue: q, Analyzer: extract.New(extract.Options{}),
		Now: func() time.Time { return time.Unix(0, h.now.Load()) }})
	at := time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)
	for i, owner := range []string{"alice", "bob", "carol"} {
		for j, ev := range []recall.Event{recall.EventFail, recall.EventFail, recall.EventDone, ""} {
			c := recalltest.NewConversation(owner, at.Add(time.Duration(i*10+j)*time.Second))
			h.seeds = append(h.seeds, h.put(t, c, ev))
		}
	}
	for i := range 2 {
		c := recalltest.NewConversation("carol", at)
		c.ID = fmt.Sprintf("legacy-%04d", i)
		h.seeds = append(h.seeds, h.put(t, c, recall.EventFail))
	}
	return h
}

// sleep stands in for recall.Sleep: it records d and moves the clock on.
func (h *bulkHarness) sleep(ctx context.Context, d time.Duration) error {
	h.slept = append(h.slept, d)
	h.now.Add(int64(d))
	if h.during != nil {
		h.during()
	}
	return ctx.Err()
}

// put stores c and moves it to failed (EventFail) or done (EventDone).
func (h *bulkHarness) put(t *testing.T, c *recall.Conversation, ev recall.Event) *recall.Conversation {
	t.Helper()
	ctx := t.Context()
	if _, _, err := h.store.Create(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	var err error
	switch ev {
	case recall.EventFail:
		c, err = h.store.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventFail, At: c.CreatedAt, Reason: "model access"})
	case recall.EventDone:
		if _, err = h.store.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: c.CreatedAt}); err == nil {
			c, err = h.store.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventDone, At: c.CreatedAt, Analysis: &recall.Analysis{Summary: "s", Model: "m"}})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runs reads back every seeded conversation's run, by id.
func (h *bulkHarness) runs(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, c := range recalltest.ScanAll(t, h.store, recall.ScanFilter{}, "", 100) {
		out[c.ID] = c.Run
	}
	return out
}

func isLegacy(c *recall.Conversation) bool { return strings.HasPrefix(c.ID, "legacy-") }

// TestReprocessAll walks the scan with pages of two, so stops fall both mid-
// page and on page ends, and resumes every walk that did not finish from
// the cursor it reported: across the two, each match must be handled
// exactly once (a lost place would skip some or start run 3 of others).
func TestReprocessAll(t *testing.T) {
	t.Parallel()
	failed := recall.ScanFilter{Status: recall.StatusFailed}
	all := func(*recall.Conversation) bool { return true }
	tests := []struct {
		name         string
		b            recall.BulkReprocess
		match        func(*recall.Conversation) bool // which seeds b.Filter selects
		failScanAt   int                             // fail this scan call (from 1)
		cancelAfter  int                             // cancel ctx in this step's progress call
		cancelInCall int                             // cancel ctx inside this Reprocess call (from 1)
		processed    int
		errors       int
		err          string // in the walk's error; "" for none
	}{
		{name: "failed ones, errors counted and passed over", b: recall.BulkReprocess{Filter: failed},
			match: func(c *recall.Conversation) bool { return c.Status == recall.StatusFailed }, processed: 8, errors: 2},
		{name: "one owner's", b: recall.BulkReprocess{Filter: recall.ScanFilter{Owner: "bob"}},
			match: func(c *recall.Conversation) bool { return c.Owner == "bob" }, processed: 4},
		{name: "done since a time", b: recall.BulkReprocess{Filter: recall.ScanFilter{Status: recall.StatusDone, Since: time.Date(2026, 5, 1, 11, 0, 5, 0, time.UTC)}},
			match: func(c *recall.Conversation) bool { return c.Status == recall.StatusDone && c.Owner != "alice" }, processed: 2},
		{name: "dry run lists and changes nothing", b: recall.BulkReprocess{Filter: failed, DryRun: true},
			match: func(c *recall.Conversation) bool { return c.Status == recall.StatusFailed }, processed: 8},
		{name: "limit stops mid-page", b: recall.BulkReprocess{Limit: 3}, match: all, processed: 3},
		{name: "limit on a page end", b: recall.BulkReprocess{Limit: 4, Filter: failed},
			match: func(c *recall.Conversation) bool { return c.Status == recall.StatusFailed }, processed: 4},
		{name: "limit in a dry run", b: recall.BulkReprocess{Limit: 5, DryRun: true}, match: all, processed: 5},
		{name: "a failing scan is fatal", failScanAt: 3, match: all, processed: 4, err: "scan: connection refused"},
		{name: "interrupted between calls", b: recall.BulkReprocess{Rate: 1000}, cancelAfter: 5, match: all,
			processed: 5, err: context.Canceled.Error()},
		{name: "interrupted inside a call", cancelInCall: 3, match: all, processed: 2, err: context.Canceled.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newBulkHarness(t)
			sc := &pagedScanner{Scanner: h.store, size: 2, failAt: tt.failScanAt}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			calls := 0
			h.hooked.before = func(ctx context.Context) error {
				if calls++; calls == tt.cancelInCall {
					cancel()
					return fmt.Errorf("boltstore: transition: %w", ctx.Err())
				}
				return nil
			}
			var steps []recall.BulkStep
			b := tt.b
			b.Progress = func(st recall.BulkStep) {
				steps = append(steps, st)
				if len(steps) == tt.cancelAfter {
					cancel()
				}
			}
			rep, err := h.svc.ReprocessAll(ctx, sc, b.WithSleep(h.sleep))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			want := 0
			for _, c := range h.seeds {
				if tt.match(c) {
					want++
				}
			}
			finished := tt.processed == want && tt.err == ""
			if rep.Processed != tt.processed || rep.Errors != tt.errors || rep.Finished != finished || finished != (rep.Cursor == "") {
				t.Errorf("report %+v, want processed %d errors %d finished %v", rep, tt.processed, tt.errors, finished)
			}
			seen := map[string]bool{}
			checkSteps(t, steps, rep, sc, tt.match, b.DryRun, seen)
			if !finished {
				// Resume where it stopped; the rest must follow exactly.
				steps = nil
				b.Limit, b.Cursor = 0, rep.Cursor
				b.Progress = func(st recall.BulkStep) { steps = append(steps, st) }
				more, err := h.svc.ReprocessAll(t.Context(), h.store, b.WithSleep(h.sleep))
				if err != nil || !more.Finished || rep.Processed+more.Processed != want {
					t.Fatalf("resume: %+v, %v; want %d more", more, err, want-rep.Processed)
				}
				checkSteps(t, steps, more, h.store, tt.match, b.DryRun, seen)
			}
			if len(seen) != want {
				t.Errorf("%d handled, want every one of the %d matches", len(seen), want)
			}
			runs := h.runs(t)
			for _, c := range h.seeds {
				wantRun := 1
				// A pending run is the analysis a reprocess asks for: it
				// is left as it is.
				if seen[c.ID] && !isLegacy(c) && !b.DryRun && c.Status != recall.StatusPending {
					wantRun = 2
				}
				if runs[c.ID] != wantRun {
					t.Errorf("%s (%s, %s) is on run %d, want %d", c.ID, c.Owner, c.Status, runs[c.ID], wantRun)
				}
			}
		})
	}
}

// checkSteps checks the progress calls of a walk that reported rep: one per
// conversation, each a match, none seen before (seen collects them across a
// walk and its resume), counting up to rep, each with the cursor that
// resumes just after it, and an error exactly for the seeds Reprocess
// refuses (none in a dry run).
func checkSteps(t *testing.T, steps []recall.BulkStep, rep recall.BulkReport, sc recall.Scanner, match func(*recall.Conversation) bool, dryRun bool, seen map[string]bool) {
	t.Helper()
	errs := 0
	for i, st := range steps {
		c := st.Conversation
		switch {
		case seen[c.ID]:
			t.Errorf("step %d: %s handled twice", i+1, c.ID)
		case !match(c):
			t.Errorf("step %d: %s (%s, %s) does not match", i+1, c.ID, c.Owner, c.Status)
		case st.Report.Processed != i+1:
			t.Errorf("step %d reports %d processed", i+1, st.Report.Processed)
		case st.Report.Cursor != sc.ScanCursor(c):
			t.Errorf("step %d: cursor %q, want the one just after %s", i+1, st.Report.Cursor, c.ID)
		case (st.Err != nil) != (isLegacy(c) && !dryRun):
			t.Errorf("step %d: %s: err %v", i+1, c.ID, st.Err)
		}
		seen[c.ID] = true
		if st.Err != nil {
			errs++
		}
	}
	if len(steps) != rep.Processed || errs != rep.Errors {
		t.Errorf("%d steps with %d errors; the report says %d and %d", len(steps), errs, rep.Processed, rep.Errors)
	}
}

// TestReprocessAllPaces runs walks (over bob's four conversations unless
// said) on a fake clock that only the pacer's sleeps move, and checks the
// waits between calls: none before the first, one interval before each
// next, none at all unpaced or in a dry run, and a wait cut short by the end
// of ctx reprocesses nothing more. After a stall the pace restarts from the
// call that ends it (which, as the pacer has always done, lets the one
// after it go at once too) rather than catching up on the calls missed.
func TestReprocessAllPaces(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name          string
		b             recall.BulkReprocess
		all           bool // walk all fourteen conversations
		stallAfter    int  // after this step, the clock jumps a second (a slow call)
		cancelInSleep int  // ctx ends during this sleep (from 1)
		slept         []time.Duration
		processed     int
	}{
		{name: "10 a second", b: recall.BulkReprocess{Rate: 10}, slept: []time.Duration{100 * ms, 100 * ms, 100 * ms}, processed: 4},
		{name: "3000 a minute", b: recall.BulkReprocess{Rate: 50}, slept: []time.Duration{20 * ms, 20 * ms, 20 * ms}, processed: 4},
		{name: "unpaced", b: recall.BulkReprocess{}, processed: 4},
		{name: "dry run makes no calls to pace", b: recall.BulkReprocess{Rate: 10, DryRun: true}, processed: 4},
		{name: "no catching up after a stall", b: recall.BulkReprocess{Rate: 10}, all: true, stallAfter: 2,
			slept: slices.Repeat([]time.Duration{100 * ms}, 11), processed: 14},
		{name: "interrupted while waiting", b: recall.BulkReprocess{Rate: 10}, cancelInSleep: 2,
			slept: []time.Duration{100 * ms, 100 * ms}, processed: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newBulkHarness(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			h.during = func() {
				if len(h.slept) == tt.cancelInSleep {
					cancel()
				}
			}
			b := tt.b
			if !tt.all {
				b.Filter = recall.ScanFilter{Owner: "bob"}
			}
			restartable := 0 // finished, and a conversation Reprocess accepts
			b.Progress = func(st recall.BulkStep) {
				if st.Err == nil && !st.Conversation.Status.InProgress() {
					restartable++
				}
				if st.Report.Processed == tt.stallAfter {
					h.now.Add(int64(time.Second))
				}
			}
			rep, err := h.svc.ReprocessAll(ctx, h.store, b.WithSleep(h.sleep))
			if (err != nil) != (tt.cancelInSleep > 0) || rep.Processed != tt.processed {
				t.Fatalf("report %+v, %v; want %d processed", rep, err, tt.processed)
			}
			if !slices.Equal(h.slept, tt.slept) {
				t.Errorf("slept %v, want %v", h.slept, tt.slept)
			}
			reprocessed := 0
			for _, run := range h.runs(t) {
				if run == 2 {
					reprocessed++
				}
			}
			// A pending run is left as it is, and two of carol's are
			// refused (walked when tt.all).
			want := restartable
			if b.DryRun {
				want = 0
			}
			if reprocessed != want {
				t.Errorf("%d reprocessed, want %d", reprocessed, want)
			}
		})
	}
}

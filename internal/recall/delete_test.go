package recall_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

// Delete takes everything: the conversation, its index entry, its
// idempotency key and what the analyzer kept of it.
func TestDeleteRemovesEverything(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	ctx := t.Context()
	c := e.create(t, "alice", "Quarterly offsite", "Plan the offsite in Lisbon.", "key-1")
	keep := e.create(t, "alice", "Offsite catering", "Catering for the offsite.", "")
	e.drain(t)

	recalltest.WantCode(t, e.svc.Delete(ctx, "bob", c.ID), recall.ENOTFOUND)
	recalltest.WantCode(t, e.svc.Delete(ctx, "alice", "../"+c.ID), recall.ENOTFOUND)
	if err := e.svc.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := e.svc.Get(ctx, "alice", c.ID)
	recalltest.WantCode(t, err, recall.ENOTFOUND)
	recalltest.WantCode(t, e.svc.Delete(ctx, "alice", c.ID), recall.ENOTFOUND)
	if got := e.indexed(t, "alice", "offsite"); !slices.Equal(got, []string{keep.ID}) {
		t.Fatalf("the index holds %v, want only %s", got, keep.ID)
	}
	if got := e.ai.log(); !slices.Contains(got, "forget "+c.ID+" alice Plan the offsite in Lisbon.") {
		t.Fatalf("the analyzer was not asked to forget it: %v", got)
	}
	again, replayed, err := e.svc.Create(ctx, "alice", recall.CreateRequest{Title: "Quarterly offsite", Content: "Plan the offsite in Lisbon."}, "key-1")
	if err != nil || replayed || again.ID == c.ID {
		t.Fatalf("create with the deleted conversation's key: %v, replayed %v, %v; want a new conversation", again, replayed, err)
	}
}

// A job still queued for a deleted conversation ends without writing
// anything back.
func TestDeleteWhileQueued(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	c := e.create(t, "alice", "Queued", "Waiting in the queue.", "")
	if err := e.svc.Delete(t.Context(), "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.drain(t); !slices.Equal(got, []recall.Outcome{recall.OutcomeSkipped}) {
		t.Fatalf("outcomes %v, want one skip", got)
	}
	if got := e.ai.log(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "analyze") }) {
		t.Fatalf("a deleted conversation was analysed: %v", got)
	}
	_, err := e.svc.Get(t.Context(), "alice", c.ID)
	recalltest.WantCode(t, err, recall.ENOTFOUND)
}

// A delete while the analysis runs: the result is not written back, the
// conversation does not come back, and neither the index nor the
// analyzer's cache keeps what the late attempt made.
func TestDeleteWhileAnalysing(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	e.ai.gate, e.ai.started = make(chan struct{}), make(chan struct{}, 1)
	c := e.create(t, "alice", "Racing", "A conversation deleted mid-analysis.", "")
	jobs, err := e.queue.Receive(t.Context(), 1, time.Second)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("receive: %v, %v", jobs, err)
	}
	outcome := make(chan recall.Outcome)
	go func() { outcome <- e.svc.Handle(t.Context(), jobs[0]) }()
	<-e.ai.started
	if err := e.svc.Delete(t.Context(), "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	close(e.ai.gate)
	if o := <-outcome; o != recall.OutcomeSkipped {
		t.Fatalf("outcome %s, want skipped", o)
	}
	_, err = e.svc.Get(t.Context(), "alice", c.ID)
	recalltest.WantCode(t, err, recall.ENOTFOUND)
	for _, q := range []string{"racing", "zeppelin"} {
		if got := e.indexed(t, "alice", q); len(got) != 0 {
			t.Fatalf("the index holds %v for %q after the delete", got, q)
		}
	}
	// The analyzer forgot it after the late analysis was made, not only
	// before (the delete's own forget ran while it was still analysing).
	log := e.ai.log()
	analysed := slices.Index(log, "analyze "+c.ID)
	if analysed < 0 || !slices.ContainsFunc(log[analysed:], func(s string) bool { return strings.HasPrefix(s, "forget "+c.ID) }) {
		t.Fatalf("analyzer events %v: no forget after the late analysis", log)
	}
}

// An index that fails several times in a row, at the create and at the
// run's end: the job comes back to index until it works, without
// spending an attempt, and the conversation ends up findable.
func TestIndexOutageEndsFindable(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	e.index.failures.Store(4) // the create's, the settle's and two re-deliveries'
	c := e.create(t, "alice", "Outage", "Indexed in the end.", "")
	if got := e.indexed(t, "alice", "outage"); len(got) != 0 {
		t.Fatalf("setup: indexed at once despite the outage: %v", got)
	}
	outcomes := e.drain(t)
	want := []recall.Outcome{recall.OutcomeDone, recall.OutcomeReleased, recall.OutcomeReleased, recall.OutcomeSkipped}
	if !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes %v, want %v", outcomes, want)
	}
	if got := e.found(t, "alice", "outage zeppelin"); !slices.Equal(got, []string{c.ID}) {
		t.Fatalf("after the outage: %v, want %s", got, c.ID)
	}
	got, _ := e.svc.Get(t.Context(), "alice", c.ID)
	if got.Status != recall.StatusDone || got.Attempts != 1 {
		t.Fatalf("status %s after %d attempts; want done after 1", got.Status, got.Attempts)
	}
}

// A run that fails is indexed too, and its dead letter is written only
// once it is: the dead letter is the run's, the index retries are not.
func TestIndexOutageOnAFailedRun(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	e.ai.fail = recall.Errorf(recall.EINVALID, "the model refuses this")
	e.index.failures.Store(2) // the create's and the settle's
	c := e.create(t, "alice", "Refused", "A conversation the model refuses.", "")
	e.drain(t)
	dead, err := e.queue.DeadLetters(t.Context(), 0)
	if err != nil || len(dead) != 1 || dead[0].Job.ConversationID != c.ID || !strings.Contains(dead[0].Reason, "refuses") {
		t.Fatalf("dead letters %+v, %v; want the run's one", dead, err)
	}
	if got := e.found(t, "alice", "refused"); !slices.Equal(got, []string{c.ID}) {
		t.Fatalf("the failed conversation is not findable: %v", got)
	}
}

// deleteAfterDone deletes the conversation through the service the moment
// its result is written, before the worker indexes it.
type deleteAfterDone struct {
	recall.Store
	svc *recall.Service
}

func (s *deleteAfterDone) Transition(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	c, err := s.Store.Transition(ctx, ref, t)
	if err == nil && t.Event == recall.EventDone {
		if derr := s.svc.Delete(ctx, ref.Owner, ref.ID); derr != nil {
			return nil, derr
		}
	}
	return c, err
}

// A delete that lands between the result's write and its indexing: the
// delete's index removal runs first, so the worker's index write would
// bring the entry back; the worker sees the conversation gone and removes
// it.
func TestDeleteBetweenResultAndIndex(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	hooked := &deleteAfterDone{Store: e.store}
	svc := recall.NewService(recall.Config{Store: hooked, Queue: e.queue, Analyzer: e.ai, Index: e.index, RetryBase: time.Millisecond})
	hooked.svc = svc
	c, _, err := svc.Create(t.Context(), "alice", recall.CreateRequest{Title: "Raced", Content: "Deleted as it finished."}, "")
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.drain(t)
	_, err = svc.Get(t.Context(), "alice", c.ID)
	recalltest.WantCode(t, err, recall.ENOTFOUND)
	for _, q := range []string{"raced", "zeppelin"} {
		if got := e.indexed(t, "alice", q); len(got) != 0 {
			t.Fatalf("the index holds %v for %q: the worker's write brought the entry back", got, q)
		}
	}
}

package dynamo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"recall/internal/dynamo"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
	"recall/internal/testenv"
)

func TestItems(t *testing.T) {
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	recalltest.Items(t, func(t *testing.T) recall.Store { return newStore(t, client) })
}

// dies stands for a process that stops after its nth request of one kind
// has been answered: every later request fails before DynamoDB sees it.
type dies struct {
	op    string
	left  atomic.Int32
	armed atomic.Bool
}

func (d *dies) arm(op string, n int32) {
	d.op = op
	d.left.Store(n)
	d.armed.Store(true)
}

func (d *dies) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("dies",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if !d.armed.Load() || d.left.Load() > 0 {
					if d.armed.Load() && awsmiddleware.GetOperationName(ctx) == d.op {
						d.left.Add(-1)
					}
					return next.HandleInitialize(ctx, in)
				}
				return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "InternalServerError", Message: "the process is gone"}
			}), middleware.After)
	})
}

// listed returns owner's whole listing as "conversation/item:done".
func listed(t *testing.T, s recall.Store, owner string) map[string]bool {
	t.Helper()
	items, _, err := s.ListItems(t.Context(), owner, recall.ItemQuery{Status: recall.ItemsAll, Limit: 100})
	if err != nil {
		t.Fatalf("ListItems: %v", err)
	}
	out := map[string]bool{}
	for _, it := range items {
		out[it.ConversationID+"/"+it.ID] = it.Done
	}
	return out
}

// TestCrashBetweenRecordAndRows: a process that dies after writing the
// record (a done transition, a tick) and before its rows leaves the
// listing behind the conversation; the sweeper's RepairItems, once the
// dead process's lock has run out, brings it in step, and a second repair
// finds nothing left to do.
func TestCrashBetweenRecordAndRows(t *testing.T) {
	endpoint := testenv.StartDynalite(t)
	healthy := newStore(t, testenv.DynamoClient(t, endpoint))
	fault := &dies{}
	dying := dynamo.New(testenv.DynamoClient(t, endpoint, fault.option, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), healthy.Table(), dynamo.Options{})
	later := dynamo.New(testenv.DynamoClient(t, endpoint), healthy.Table(), dynamo.Options{Now: func() time.Time { return time.Now().Add(time.Minute) }})
	ctx := t.Context()
	t0 := time.Now().Add(-time.Hour)

	c, _, err := healthy.Create(ctx, recalltest.NewConversation("alice", t0), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err = healthy.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	a := &recall.Analysis{Summary: "s", Items: []recall.ActionItem{
		recall.NewActionItem("Send the deck", "Alice", &recall.Date{Year: 2026, Month: 3, Day: 1}),
		recall.NewActionItem("Fix the build", "", nil),
	}}
	fault.arm("UpdateItem", 1) // the done write lands, nothing after it
	if c, err = dying.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventDone, At: t0.Add(time.Second), Analysis: a}); err != nil {
		t.Fatalf("done: %v (the result is stored; the rows are the sweeper's)", err)
	}
	fault.armed.Store(false)
	if got := listed(t, healthy, "alice"); len(got) != 0 {
		t.Fatalf("the rows were written after all: %v", got)
	}
	// The dead process's lock still holds: no repair yet.
	if n, err := healthy.RepairItems(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("repair under a live lock = %d, %v; want 0", n, err)
	}
	if n, err := later.RepairItems(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("repair = %d, %v; want 1", n, err)
	}
	recalltest.InStep(t, healthy, "alice", c.ID)

	// A tick whose process dies after the record write.
	fault.arm("UpdateItem", 1)
	if _, err := dying.SetItemDone(ctx, "alice", c.ID, c.Items[1].ID, true, time.Now()); err == nil {
		t.Fatal("a tick whose rows could not be written answered success")
	}
	fault.armed.Store(false)
	if got := listed(t, healthy, "alice"); got[c.ID+"/"+c.Items[1].ID] {
		t.Fatal("the tick reached the listing after all")
	}
	if n, err := later.RepairItems(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("repair = %d, %v; want 1", n, err)
	}
	recalltest.InStep(t, healthy, "alice", c.ID)
	if n, err := later.RepairItems(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("second repair = %d, %v; want nothing left", n, err)
	}
}

// TestFailedRowWriteRetried: when only the row write fails (the process
// lives), the tick answers an error and gives its lock back, so the
// client's retry brings the listing in step at once.
func TestFailedRowWriteRetried(t *testing.T) {
	endpoint := testenv.StartDynalite(t)
	healthy := newStore(t, testenv.DynamoClient(t, endpoint))
	fault := &failOnce{op: "BatchWriteItem"}
	flaky := dynamo.New(testenv.DynamoClient(t, endpoint, fault.option, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), healthy.Table(), dynamo.Options{})
	ctx := t.Context()
	c := analysedOn(t, healthy, "alice", recall.NewActionItem("Send the deck", "Alice", nil))

	fault.armed.Store(true)
	svc := recall.NewService(recall.Config{Store: flaky, Queue: memq.New(memq.Options{}), Analyzer: fixedAnalyzer{}})
	_, err := svc.SetItemDone(ctx, "alice", c.ID, c.Items[0].ID, true)
	recalltest.WantCode(t, err, recall.EUNAVAILABLE)
	if it, err := svc.SetItemDone(ctx, "alice", c.ID, c.Items[0].ID, true); err != nil || !it.Done {
		t.Fatalf("retry = %+v, %v", it, err)
	}
	if got := listed(t, healthy, "alice"); !got[c.ID+"/"+c.Items[0].ID] {
		t.Fatalf("after the retry the listing has %v", got)
	}
	recalltest.InStep(t, healthy, "alice", c.ID)
}

// failOnce fails the next request of one kind, once armed.
type failOnce struct {
	op    string
	armed atomic.Bool
}

func (f *failOnce) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fail-once",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if awsmiddleware.GetOperationName(ctx) == f.op && f.armed.CompareAndSwap(true, false) {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("connection reset by peer")
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

func analysedOn(t *testing.T, s recall.Store, owner string, items ...recall.ActionItem) *recall.Conversation {
	t.Helper()
	ctx := t.Context()
	c, _, err := s.Create(ctx, recalltest.NewConversation(owner, time.Now()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c, err = s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventDone, At: time.Now(), Analysis: &recall.Analysis{Summary: "s", Items: items}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// itemsAnalyzer answers every conversation with two structured items.
type itemsAnalyzer struct{}

func (itemsAnalyzer) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	return recall.Analysis{Summary: "s", ActionItems: []string{"Alice: send the deck", "fix the build"}, Model: "fixed", Items: []recall.ActionItem{
		recall.NewActionItem("Send the deck", "Alice", &recall.Date{Year: 2026, Month: 3, Day: 1}),
		recall.NewActionItem("Fix the build", "", nil),
	}}, nil
}

func (itemsAnalyzer) Health(context.Context) (string, error) { return "local", nil }

// TestItemRequestCounts pins what action items cost in DynamoDB requests:
// a first analysis with items needs no read (one write for the result,
// one batch for the rows, one to clear the lock); a listing is one Query;
// a tick is a read, a write, a batch and a clear; a delete (with no
// Idempotency-Key) is a read, the lock, a batch and the delete. None is a
// Scan.
func TestItemRequestCounts(t *testing.T) {
	ctx := t.Context()
	endpoint := testenv.StartDynalite(t)
	store := newStore(t, testenv.DynamoClient(t, endpoint))
	cnt := &counter{ops: map[string]int{}}
	counted := dynamo.New(testenv.DynamoClient(t, endpoint, cnt.option), store.Table(), dynamo.Options{})
	q := memq.New(memq.Options{})
	svc := recall.NewService(recall.Config{Store: counted, Queue: q, Analyzer: itemsAnalyzer{}})

	c, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Alice: I will send the deck by Friday."}, "")
	if err != nil {
		t.Fatal(err)
	}
	cnt.take()
	jobs, err := q.Receive(ctx, 1, time.Second)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Receive = %d jobs, %v", len(jobs), err)
	}
	if out := svc.Handle(ctx, jobs[0]); out != recall.OutcomeDone {
		t.Fatalf("Handle = %s", out)
	}
	cnt.want(t, "processing a job with items", map[string]int{"UpdateItem": 3, "BatchWriteItem": 1})

	for _, st := range []recall.ItemStatus{recall.ItemsOpen, recall.ItemsAll} {
		page, err := svc.ListItems(ctx, "alice", recall.ItemFilter{Status: st})
		if err != nil || len(page.Items) != 2 {
			t.Fatalf("ListItems(%s) = %d items, %v", st, len(page.Items), err)
		}
		cnt.want(t, "listing "+string(st), map[string]int{"Query": 1})
	}
	got, err := svc.Get(ctx, "alice", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	cnt.take()
	if _, err := svc.SetItemDone(ctx, "alice", c.ID, got.Items[0].ID, true); err != nil {
		t.Fatal(err)
	}
	cnt.want(t, "a tick", map[string]int{"GetItem": 1, "UpdateItem": 2, "BatchWriteItem": 1})
	if _, err := svc.SetItemDone(ctx, "alice", c.ID, got.Items[0].ID, true); err != nil {
		t.Fatal(err)
	}
	cnt.want(t, "the same tick again", map[string]int{"GetItem": 1})
	if _, err := counted.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	cnt.want(t, "a delete with items", map[string]int{"GetItem": 1, "UpdateItem": 1, "BatchWriteItem": 1, "DeleteItem": 1})
}

// TestDeleteItemsAfterCrashes: a delete finds every row a writer may have
// left, even when a tick died between its record write and its rows (its
// lock still holds, the record lists the stale rows); and a delete that
// dies after removing the rows but before the record leaves a conversation
// the sweeper lists again, which a retried delete then removes for good.
func TestDeleteItemsAfterCrashes(t *testing.T) {
	endpoint := testenv.StartDynalite(t)
	healthy := newStore(t, testenv.DynamoClient(t, endpoint))
	fault := &dies{}
	dying := dynamo.New(testenv.DynamoClient(t, endpoint, fault.option, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), healthy.Table(), dynamo.Options{})
	later := dynamo.New(testenv.DynamoClient(t, endpoint), healthy.Table(), dynamo.Options{Now: func() time.Time { return time.Now().Add(time.Minute) }})
	ctx := t.Context()
	items := []recall.ActionItem{
		recall.NewActionItem("Send the deck", "Alice", &recall.Date{Year: 2026, Month: 3, Day: 1}),
		recall.NewActionItem("Fix the build", "", nil),
	}

	c := analysedOn(t, healthy, "alice", items...)
	fault.arm("UpdateItem", 1) // the tick's record write lands, not its rows
	if _, err := dying.SetItemDone(ctx, "alice", c.ID, c.Items[0].ID, true, time.Now()); err == nil {
		t.Fatal("a tick whose rows could not be written answered success")
	}
	fault.armed.Store(false)
	if _, err := healthy.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatalf("Delete under a dead holder's lock: %v", err)
	}
	if got := listed(t, healthy, "alice"); len(got) != 0 {
		t.Fatalf("after the delete the listing has %v", got)
	}

	c = analysedOn(t, healthy, "alice", items...)
	fault.arm("BatchWriteItem", 1) // the rows go, the record stays
	if _, err := dying.Delete(ctx, "alice", c.ID); err == nil {
		t.Fatal("a delete that could not remove the record answered success")
	}
	fault.armed.Store(false)
	if got := listed(t, healthy, "alice"); len(got) != 0 {
		t.Fatalf("the rows were not deleted first: %v", got)
	}
	if n, err := later.RepairItems(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("repair = %d, %v; want 1", n, err)
	}
	recalltest.InStep(t, healthy, "alice", c.ID)
	if _, err := healthy.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatalf("retried Delete: %v", err)
	}
	if got := listed(t, healthy, "alice"); len(got) != 0 {
		t.Fatalf("after the retried delete the listing has %v", got)
	}
}

package recall_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/memq"
	"recall/internal/recall"
)

// trace records, in order, the store transitions and queue calls a job
// makes, each marked "!" when it was made to fail.
type trace struct {
	mu    sync.Mutex
	calls []string
}

func (t *trace) add(call string, failed bool) {
	if failed {
		call += "!"
	}
	t.mu.Lock()
	t.calls = append(t.calls, call)
	t.mu.Unlock()
}

// tracedStore fails the transitions named in fail, with the error given.
type tracedStore struct {
	*boltstore.Store
	tr   *trace
	fail map[recall.Event]error
}

func (s *tracedStore) Transition(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	err, failed := s.fail[t.Event]
	s.tr.add("store "+string(t.Event), failed)
	if failed {
		return nil, err
	}
	return s.Store.Transition(ctx, ref, t)
}

// tracedQueue fails the queue calls named in fail.
type tracedQueue struct {
	*memq.Queue
	tr   *trace
	fail map[string]bool
}

func (q *tracedQueue) call(name string) error {
	q.tr.add("queue "+name, q.fail[name])
	if q.fail[name] {
		return errors.New("queue down")
	}
	return nil
}

func (q *tracedQueue) Ack(ctx context.Context, jobs ...recall.Job) error {
	if err := q.call("ack"); err != nil {
		return err
	}
	return q.Queue.Ack(ctx, jobs...)
}

func (q *tracedQueue) Retry(ctx context.Context, job recall.Job, delay time.Duration) error {
	if err := q.call("retry"); err != nil {
		return err
	}
	return q.Queue.Retry(ctx, job, delay)
}

func (q *tracedQueue) DeadLetter(ctx context.Context, job recall.Job, reason string) error {
	if err := q.call("dead-letter"); err != nil {
		return err
	}
	return q.Queue.DeadLetter(ctx, job, reason)
}

// TestSettleOrderAndFaults pins how a job settles: the store transition
// first, then one queue call; a store fault releases the job (a retry with
// no attempt spent) and names the step in the reason; a queue fault leaves
// the job released, except after a stored result; a conflicting retry or
// failure record does not stop the queue call, a conflicting result skips.
func TestSettleOrderAndFaults(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	stale := recall.Errorf(recall.ECONFLICT, "conversation is on run 2, not 1")
	held := &recall.Error{Code: recall.ECONFLICT, Message: "conversation is held until later", RetryAfter: time.Minute}
	unavailable := recall.Errorf(recall.EUNAVAILABLE, "model busy")
	permanent := recall.Errorf(recall.EPERMISSION, "model access is not enabled")
	throttled := recall.Errorf(recall.ETHROTTLED, "slow down")
	tests := []struct {
		name      string
		script    []error // the analyzer's answers
		storeFail map[recall.Event]error
		queueFail map[string]bool
		calls     string
		outcome   recall.Outcome
		reason    string        // prefix of the logged reason
		analysis  bool          // the log names the model
		status    recall.Status // the conversation after the job
	}{
		{name: "done", calls: "store start,store done,queue ack",
			outcome: recall.OutcomeDone, analysis: true, status: recall.StatusDone},
		{name: "store down at start", storeFail: map[recall.Event]error{recall.EventStart: down},
			calls: "store start!,queue retry", outcome: recall.OutcomeReleased, reason: "start: connection refused", status: recall.StatusPending},
		{name: "store and queue down at start", storeFail: map[recall.Event]error{recall.EventStart: down}, queueFail: map[string]bool{"retry": true},
			calls: "store start!,queue retry!", outcome: recall.OutcomeReleased, reason: "start: connection refused; retry: queue down", status: recall.StatusPending},
		{name: "stale at start", storeFail: map[recall.Event]error{recall.EventStart: stale},
			calls: "store start!,queue ack", outcome: recall.OutcomeSkipped, reason: "conversation is on run 2", status: recall.StatusPending},
		{name: "held at start", storeFail: map[recall.Event]error{recall.EventStart: held},
			calls: "store start!,queue retry", outcome: recall.OutcomeDeferred, reason: "conversation is held", status: recall.StatusPending},
		{name: "held at start, retry fails", storeFail: map[recall.Event]error{recall.EventStart: held}, queueFail: map[string]bool{"retry": true},
			calls: "store start!,queue retry!", outcome: recall.OutcomeReleased, reason: "retry: queue down", status: recall.StatusPending},
		{name: "stale at start, ack fails", storeFail: map[recall.Event]error{recall.EventStart: stale}, queueFail: map[string]bool{"ack": true},
			calls: "store start!,queue ack!", outcome: recall.OutcomeReleased, reason: "ack: queue down", status: recall.StatusPending},
		{name: "store down saving the result", storeFail: map[recall.Event]error{recall.EventDone: down},
			calls: "store start,store done!,queue retry", outcome: recall.OutcomeReleased, reason: "save result: connection refused", status: recall.StatusProcessing},
		{name: "result already stored by another delivery", storeFail: map[recall.Event]error{recall.EventDone: stale},
			calls: "store start,store done!,queue ack", outcome: recall.OutcomeSkipped, reason: "conversation is on run 2", analysis: true, status: recall.StatusProcessing},
		{name: "stale result, ack fails", storeFail: map[recall.Event]error{recall.EventDone: stale}, queueFail: map[string]bool{"ack": true},
			calls: "store start,store done!,queue ack!", outcome: recall.OutcomeReleased, reason: "ack: queue down", analysis: true, status: recall.StatusProcessing},
		{name: "ack fails after the result is stored", queueFail: map[string]bool{"ack": true},
			calls: "store start,store done,queue ack!", outcome: recall.OutcomeDone, analysis: true, status: recall.StatusDone},
		{name: "retry", script: []error{unavailable},
			calls: "store start,store retry,queue retry", outcome: recall.OutcomeRetry, reason: "model busy", status: recall.StatusPending},
		{name: "store down recording a retry", script: []error{unavailable}, storeFail: map[recall.Event]error{recall.EventRetry: down},
			calls: "store start,store retry!,queue retry", outcome: recall.OutcomeReleased, reason: "record retry: connection refused", status: recall.StatusProcessing},
		{name: "stale retry record still retries", script: []error{unavailable}, storeFail: map[recall.Event]error{recall.EventRetry: stale},
			calls: "store start,store retry!,queue retry", outcome: recall.OutcomeRetry, reason: "model busy", status: recall.StatusProcessing},
		{name: "queue down retrying", script: []error{unavailable}, queueFail: map[string]bool{"retry": true},
			calls: "store start,store retry,queue retry!", outcome: recall.OutcomeReleased, reason: "retry: queue down", status: recall.StatusPending},
		{name: "store down recording a throttle", script: []error{throttled}, storeFail: map[recall.Event]error{recall.EventRetry: down},
			calls: "store start,store retry!,queue retry", outcome: recall.OutcomeReleased, reason: "record throttle: connection refused", status: recall.StatusProcessing},
		{name: "fail", script: []error{permanent},
			calls: "store start,store fail,queue dead-letter", outcome: recall.OutcomeFailed, reason: "analysis failed: model access", status: recall.StatusFailed},
		{name: "store down recording a failure", script: []error{permanent}, storeFail: map[recall.Event]error{recall.EventFail: down},
			calls: "store start,store fail!,queue retry", outcome: recall.OutcomeReleased, reason: "record failure: connection refused", status: recall.StatusProcessing},
		// Gone is deleted: nothing is written back and the job leaves.
		{name: "gone recording a failure skips", script: []error{permanent}, storeFail: map[recall.Event]error{recall.EventFail: recall.Errorf(recall.ENOTFOUND, "gone")},
			calls: "store start,store fail!,queue ack", outcome: recall.OutcomeSkipped, reason: "gone", status: recall.StatusProcessing},
		{name: "gone recording a retry skips", script: []error{unavailable}, storeFail: map[recall.Event]error{recall.EventRetry: recall.Errorf(recall.ENOTFOUND, "gone")},
			calls: "store start,store retry!,queue ack", outcome: recall.OutcomeSkipped, reason: "gone", status: recall.StatusProcessing},
		{name: "stale failure record still dead-letters", script: []error{permanent}, storeFail: map[recall.Event]error{recall.EventFail: stale},
			calls: "store start,store fail!,queue dead-letter", outcome: recall.OutcomeFailed, reason: "analysis failed: model access", status: recall.StatusProcessing},
		{name: "queue down dead-lettering", script: []error{permanent}, queueFail: map[string]bool{"dead-letter": true},
			calls: "store start,store fail,queue dead-letter!", outcome: recall.OutcomeReleased, reason: "dead-letter: queue down", status: recall.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, q := openStoreQueue(t)
			tr := &trace{}
			store, queue := &tracedStore{Store: st, tr: tr}, &tracedQueue{Queue: q, tr: tr}
			var logs bytes.Buffer
			svc := recall.NewService(recall.Config{
				Store: store, Queue: queue,
				Analyzer: &scripted{script: tt.script, local: extract.New(extract.Options{})},
				Logger:   slog.New(slog.NewJSONHandler(&logs, nil)), RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond,
			})
			ctx := context.Background()
			c, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Bob: I will send the report by Friday."}, "")
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := q.Receive(ctx, 1, time.Second)
			if err != nil || len(jobs) != 1 {
				t.Fatalf("receive: %v %v", jobs, err)
			}
			store.fail, queue.fail = tt.storeFail, tt.queueFail

			if o := svc.Handle(ctx, jobs[0]); o != tt.outcome {
				t.Errorf("outcome %s, want %s", o, tt.outcome)
			}
			if got := strings.Join(tr.calls, ","); got != tt.calls {
				t.Errorf("calls %s\n      want %s", got, tt.calls)
			}
			line := jobLine(t, logs.String())
			if reason, _ := line["reason"].(string); !strings.HasPrefix(reason, tt.reason) || (tt.reason == "") != (reason == "") {
				t.Errorf("reason %q, want it to start %q", reason, tt.reason)
			}
			if _, ok := line["model"]; ok != tt.analysis {
				t.Errorf("analysis logged = %v, want %v (%v)", ok, tt.analysis, line)
			}
			if line["outcome"] != string(tt.outcome) || line["attempt"] != float64(1) {
				t.Errorf("job line %v", line)
			}
			if got, err := st.Get(ctx, "alice", c.ID); err != nil {
				t.Fatal(err)
			} else if got.Status != tt.status {
				t.Errorf("conversation is %s, want %s", got.Status, tt.status)
			}
		})
	}
}

// jobLine returns the one "job" record in a JSON log.
func jobLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	var found []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if rec["msg"] == "job" {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d job lines, want 1:\n%s", len(found), logs)
	}
	return found[0]
}

// failDoneOnce fails the first done write, as a store blip right after the
// analysis would, and nothing else.
type failDoneOnce struct {
	recall.Store
	failed atomic.Bool
}

func (s *failDoneOnce) Transition(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	if t.Event == recall.EventDone && s.failed.CompareAndSwap(false, true) {
		return nil, errors.New("connection reset by peer")
	}
	return s.Store.Transition(ctx, ref, t)
}

// TestResultWriteFailureBringsTheJobBack: the job is acked only after its
// result is written. When only that write fails, the queue itself (no
// sweeper runs) must deliver the job again, and the conversation ends done
// on a second attempt. Acking before the write would lose the job and
// leave the conversation processing for ever.
func TestResultWriteFailureBringsTheJobBack(t *testing.T) {
	t.Parallel()
	st, q := openStoreQueue(t)
	store := &failDoneOnce{Store: st}
	ai := &scripted{local: extract.New(extract.Options{})}
	svc := recall.NewService(recall.Config{Store: store, Queue: q, Analyzer: ai,
		AnalyzeTimeout: 300 * time.Millisecond, LeaseMargin: 100 * time.Millisecond, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() {
		worked <- svc.Work(ctx, recall.WorkerConfig{Concurrency: 2, Wait: 20 * time.Millisecond, SweepEvery: 0})
	}()
	t.Cleanup(func() { cancel(); <-worked })

	c, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Bob: I will send the report by Friday."}, "")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := st.Get(ctx, "alice", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == recall.StatusDone {
			if !store.failed.Load() || got.Attempts != 2 || ai.calls.Load() != 2 {
				t.Fatalf("done after done-write failed %v, %d attempts, %d model calls; want true, 2, 2", store.failed.Load(), got.Attempts, ai.calls.Load())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s 5s after its result write failed once (attempts %d): the job was not delivered again", got.Status, got.Attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

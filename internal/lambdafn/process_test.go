package lambdafn_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"recall/internal/lambdafn"
	"recall/internal/recall"
)

func TestProcessRefusesBadEvents(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{})
	id := recall.NewID(time.Now())
	tests := []struct {
		name, event, msg string
	}{
		{"array", `[]`, "JSON object"},
		{"string", `"hello"`, "JSON object"},
		{"null", `null`, "JSON object"},
		{"empty object", `{}`, "conversation_id is required"},
		{"no owner", `{"conversation_id": "` + id + `"}`, "owner is required"},
		{"bad id", `{"conversation_id": "../etc", "owner": "o"}`, "conversation_id"},
		{"wrong type", `{"conversation_id": 42, "owner": "o"}`, "conversation_id"},
		{"unknown field", `{"conversation_id": "` + id + `", "owner": "o", "ownr": "x"}`, `"ownr"`},
		{"trailing data", `{"conversation_id": "` + id + `", "owner": "o"} {}`, "not valid JSON"},
		{"empty", ``, "not valid JSON"},
		{"not found", `{"conversation_id": "` + id + `", "owner": "o"}`, "not_found"},
		{"s3 event", `{"Records": [{"eventSource": "aws:s3"}]}`, `"Records"`},
		{"other EventBridge source", `{"source": "aws.s3", "detail-type": "Object Created", "detail": {}}`, `"aws.s3"`},
		{"other detail-type", `{"source": "aws.events", "detail-type": "Something Else"}`, `"Something Else"`},
		{"bad EventBridge time", `{"source": "aws.events", "detail-type": "Scheduled Event", "time": "yesterday"}`, "scheduled event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := process(t.Context(), json.RawMessage(tc.event))
			if err == nil {
				t.Fatalf("accepted: %+v", res)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestProcessDirect(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{})
	c, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Ravi will renew the TLS certificates before Thursday."}, "")
	if err != nil {
		t.Fatal(err)
	}
	// A marshalled recall.Job is a valid direct invocation, every field of
	// it.
	j := recall.JobFor(c, time.Now())
	j.Throttles = 2
	job, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	res, err := process(ctx, job)
	if err != nil || res.Outcome != recall.OutcomeDone {
		t.Fatalf("job event: %+v %v", res, err)
	}
	// Done already: nothing to do.
	res, err = process(ctx, json.RawMessage(`{"conversation_id": "`+c.ID+`", "owner": "alice"}`))
	if err != nil || res.Outcome != recall.OutcomeSkipped {
		t.Errorf("second time: %+v %v", res, err)
	}
	// Another owner's conversation is not found.
	if _, err := process(ctx, json.RawMessage(`{"conversation_id": "`+c.ID+`", "owner": "bob"}`)); recall.ErrorCode(err) != recall.ENOTFOUND {
		t.Errorf("other owner: %v", err)
	}
}

// TestProcessDirectSkipsAHeldRun: a direct invocation for a conversation
// another attempt holds (a scheduled drain got there first) analyses
// nothing and leaves it as it is.
func TestProcessDirectSkipsAHeldRun(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	ctx := t.Context()
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{})
	c, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Ravi will renew the TLS certificates before Thursday."}, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	held, err := store.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := process(ctx, json.RawMessage(`{"conversation_id": "`+c.ID+`", "owner": "alice"}`))
	if err != nil || res.Outcome != recall.OutcomeSkipped {
		t.Fatalf("direct call on a held run: %+v %v; want skipped", res, err)
	}
	if got, _ := store.Get(ctx, "alice", c.ID); got.Status != recall.StatusProcessing || got.Attempts != held.Attempts || !got.UpdatedAt.Equal(held.UpdatedAt) {
		t.Fatalf("the held run changed: %s, %d attempts", got.Status, got.Attempts)
	}
}

func TestProcessScheduledBudget(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	for i := range 3 {
		if _, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: strings.Repeat("Item number one. ", i+1)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// No deadline on the context: the budget bounds the drain.
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{Budget: 4 * time.Second, Worker: recall.WorkerConfig{Wait: 50 * time.Millisecond}})
	start := time.Now()
	res, err := process(context.WithoutCancel(ctx), fixture(t, "process-scheduled.json", ""))
	if err != nil || res.Drain.Outcomes[recall.OutcomeDone] != 3 {
		t.Fatalf("drain: %+v %v", res.Drain, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("an empty queue should end the drain early; took %s", took)
	}
}

func TestProcessScheduledDeadlineTooShort(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t) // AnalyzeTimeout 2s
	c, _, err := svc.Create(t.Context(), "alice", recall.CreateRequest{Content: "x"}, "")
	if err != nil {
		t.Fatal(err)
	}
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{Margin: time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	res, err := process(ctx, fixture(t, "process-scheduled.json", ""))
	if err == nil || !strings.Contains(err.Error(), "AnalyzeTimeout") {
		t.Fatalf("want an error naming AnalyzeTimeout, got %v", err)
	}
	if res.Drain == nil || res.Drain.Jobs != 0 {
		t.Errorf("drain %+v", res.Drain)
	}
	if got, _ := svc.Get(t.Context(), "alice", c.ID); got.Status != recall.StatusPending {
		t.Errorf("status %s", got.Status)
	}
}

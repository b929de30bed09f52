package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/boltstore"
	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

func TestQueueCommands(t *testing.T) {
	srv := testenv.StartRedis(t)
	t.Setenv("REDIS_URL", srv.URL())
	t.Setenv("RECALL_DATA_DIR", t.TempDir())

	// Seed the queue the way the worker would: two waiting, one dead.
	client, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	q := redisq.New(client, redisq.Options{Consumer: "seed"})
	ctx := context.Background()
	now := time.Now()
	for i, p := range []recall.Priority{recall.PriorityHigh, recall.PriorityLow, recall.PriorityDefault} {
		job := recall.Job{ConversationID: recall.NewID(now), Owner: "alice", Run: 1, Priority: p, Attempt: 1, EnqueuedAt: now}
		if err := q.Enqueue(ctx, job); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			got, err := q.Receive(ctx, 3, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range got {
				if j.Priority == recall.PriorityDefault {
					if err := q.DeadLetter(ctx, j, "analysis failed: model access for m is not enabled in us-east-1"); err != nil {
						t.Fatal(err)
					}
				} else if err := q.Retry(ctx, j, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"queue", "stats"}, 0, []string{"waiting (high)", "dead letters", "in flight"}},
		{[]string{"queue", "stats", "--json"}, 0, []string{`"dead": 1`}},
		{[]string{"queue", "dlq"}, 0, []string{"model access for m is not enabled", "alice"}},
		{[]string{"queue", "redrive"}, 2, nil},
		{[]string{"queue", "nope"}, 2, nil},
		{[]string{"queue", "redrive", "--all"}, 0, []string{"Redrove 1 dead letter(s): 0 conversation(s) restarted"}},
		{[]string{"queue", "dlq"}, 0, []string{"No dead letters."}},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(ctx, tt.args, &out, &errOut)
		if code != tt.code {
			t.Fatalf("recall %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, out.String(), errOut.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("recall %s: output lacks %q:\n%s", strings.Join(tt.args, " "), w, out.String())
			}
		}
	}
}

// refusingAnalyzer refuses every analysis as a model without access would,
// until fixed is set.
type refusingAnalyzer struct{ fixed atomic.Bool }

func (a *refusingAnalyzer) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	if !a.fixed.Load() {
		return recall.Analysis{}, recall.Errorf(recall.EPERMISSION, "model access for m is not enabled in us-east-1")
	}
	return recall.Analysis{Summary: "fixed", ActionItems: []string{"a"}, Keywords: []string{"k"}, Model: "m"}, nil
}

func (a *refusingAnalyzer) Health(context.Context) (string, error) { return "refusing", nil }

// TestQueueRedriveRestartsTheRun: a conversation failed by a model that
// refuses, with its job dead-lettered; the model is fixed and the dead
// letter redriven through the command, against real Redis and the embedded
// store: the conversation gets a new run and ends done.
func TestQueueRedriveRestartsTheRun(t *testing.T) {
	srv := testenv.StartRedis(t)
	dir := t.TempDir()
	t.Setenv("REDIS_URL", srv.URL())
	t.Setenv("RECALL_DATA_DIR", dir)
	ctx := context.Background()
	client, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	q := redisq.New(client, redisq.Options{Consumer: "worker"})
	ai := &refusingAnalyzer{}
	// work opens the store the command also opens (so not at the same
	// time), and handles every job that comes within wait.
	work := func(wait time.Duration) (*recall.Conversation, []recall.Outcome) {
		t.Helper()
		st, err := boltstore.Open(filepath.Join(dir, "recall.db"), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc := recall.NewService(recall.Config{Store: st, Queue: q, Analyzer: ai})
		list, _, err := st.List(ctx, "alice", "", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 0 {
			if _, _, err := svc.Create(ctx, "alice", recall.CreateRequest{Content: "Alice will send the deck by Friday."}, ""); err != nil {
				t.Fatal(err)
			}
		}
		var outcomes []recall.Outcome
		for {
			jobs, err := q.Receive(ctx, 1, wait)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) == 0 {
				break
			}
			outcomes = append(outcomes, svc.Handle(ctx, jobs[0]))
		}
		list, _, err = st.List(ctx, "alice", "", 1)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		return list[0], outcomes
	}

	c, outcomes := work(500 * time.Millisecond)
	if c.Status != recall.StatusFailed || len(outcomes) != 1 || outcomes[0] != recall.OutcomeFailed {
		t.Fatalf("with the model refusing: %s after %v", c.Status, outcomes)
	}
	ai.fixed.Store(true)
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"queue", "redrive", "--all"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Redrove 1 dead letter(s): 1 conversation(s) restarted") {
		t.Fatalf("redrive: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	c, outcomes = work(500 * time.Millisecond)
	if c.Status != recall.StatusDone || c.Run != 2 || c.Attempts != 1 || c.Summary != "fixed" {
		t.Fatalf("after the redrive: %s on run %d, %d attempts, summary %q (jobs: %v); want done on run 2 after 1 attempt", c.Status, c.Run, c.Attempts, c.Summary, outcomes)
	}
	if dead, err := q.DeadLetters(ctx, 0); err != nil || len(dead) != 0 {
		t.Fatalf("dead letters after the redrive: %v %v", dead, err)
	}
}

func TestQueueCommandWithoutRedis(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"queue", "stats"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "REDIS_URL is not set") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestSeparateWorkerNeedsASharedQueue(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	for _, args := range [][]string{{"worker"}, {"serve", "--no-worker", "--addr", "127.0.0.1:0"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "REDIS_URL") {
			t.Errorf("recall %v: exit %d, stderr %q; want 2 naming REDIS_URL", args, code, errOut.String())
		}
	}
}

func TestUsageCommand(t *testing.T) {
	srv := testenv.StartRedis(t)
	t.Setenv("REDIS_URL", srv.URL())
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"usage"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "No model usage") {
		t.Fatalf("empty usage: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	client, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	u := redisq.NewUsage(client, "")
	// Two workers' spend on Claude Haiku 4.5: 3M input and 1M output tokens
	// cost 3 × $1 + 1 × $5 = $8.
	for range 2 {
		if err := u.Add(ctx, redisq.ModelUsage{Model: bedrock.DefaultModelID, Calls: 5, Analyses: 5, InputTokens: 1_500_000, OutputTokens: 500_000}); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if code := run(ctx, []string{"usage"}, &out, &errOut); code != 0 {
		t.Fatalf("usage: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{bedrock.DefaultModelID, "3000000", "1000000", "8.0000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage output lacks %q:\n%s", want, out.String())
		}
	}
}

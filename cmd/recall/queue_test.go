package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"recall/internal/bedrock"
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
		{[]string{"queue", "redrive", "--all"}, 0, []string{"Redrove 1 dead letter"}},
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

package backends

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/config"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// TestWorkersShareTheRunsParts wires two analyzers as with REDIS_URL set,
// as two workers, against the fake Bedrock. A conversation split into four
// parts whose part 2 is throttled three times is retried on one worker and
// then the other: the part results kept in Redis spare every retry the
// parts already answered, so each part reaches the model once after its
// throttles. The finished analysis, structured items and all, comes back
// from Redis as it went in, for its owner only.
func TestWorkersShareTheRunsParts(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	var mu sync.Mutex
	sent := map[string]int{}
	s.SetHook(func(r *bedrocktest.Request) bedrocktest.Behavior {
		part := "combine"
		if text := r.UserText(); strings.HasPrefix(text, "This is part ") {
			part = text[len("This is part "):strings.Index(text, " of ")]
		}
		mu.Lock()
		defer mu.Unlock()
		sent[part]++
		if part == "2" && sent[part] <= 3 {
			return bedrocktest.Error("ThrottlingException", "")
		}
		return nil
	})
	cfg := config.Config{Bedrock: config.Bedrock{Model: bedrock.DefaultModelID, InputBudget: 100}, Region: s.Region()}
	log := slog.New(slog.DiscardHandler)
	worker := func() *bedrock.Analyzer {
		c, err := bedrock.NewClient(context.Background(), s.Region(), bedrock.WithBaseEndpoint(s.URL), bedrock.WithCredentials(s.Credentials()))
		if err != nil {
			t.Fatal(err)
		}
		return bedrock.New(c, bedrockOptions(cfg, log, redisClient(t, srv.URL())))
	}
	workers := []*bedrock.Analyzer{worker(), worker()}
	var b strings.Builder
	for i := 0; bedrock.EstimateTokens(b.String()) <= 350; i++ {
		fmt.Fprintf(&b, "Ben%d: I will check step %d of the migration by Friday.\n", i, i)
	}
	x := recall.AnalysisInput{ConversationID: "01PARTS", Owner: "alice", Content: b.String(),
		CreatedAt: time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)}
	if parts, _ := bedrock.PlanCalls(bedrock.EstimateTokens(x.Content), 100); parts != 4 {
		t.Fatalf("the conversation takes %d parts, want 4", parts)
	}
	ctx := context.Background()
	var got recall.Analysis
	for attempt := 0; ; attempt++ {
		var err error
		if got, err = workers[attempt%2].Analyze(ctx, x); err == nil {
			break
		}
		if recall.ErrorCode(err) != recall.ETHROTTLED || attempt > 10 {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
	mu.Lock()
	counts := fmt.Sprint(sent)
	mu.Unlock()
	if want := "map[1:1 2:4 3:1 4:1 combine:1]"; counts != want {
		t.Errorf("requests per part %s, want %s", counts, want)
	}
	if got.Calls != 5 || len(got.Items) == 0 || got.Items[0].Due == nil || got.Items[0].Due.String() != "2026-03-13" {
		t.Fatalf("analysis: %d calls, items %+v; want 5 calls and items due Friday 13 March", got.Calls, got.Items)
	}
	again, err := workers[0].Analyze(ctx, x)
	if err != nil || !again.Cached || !reflect.DeepEqual(again.Items, got.Items) || !reflect.DeepEqual(again.ActionItems, got.ActionItems) {
		t.Errorf("from Redis: cached %v, err %v, items %+v; want the analysis as stored", again.Cached, err, again.Items)
	}
	x.Owner = "bob"
	if other, err := workers[1].Analyze(ctx, x); err != nil || other.Cached || other.Calls != 5 {
		t.Errorf("another owner: cached %v, %d calls, err %v; want an analysis of his own", other.Cached, other.Calls, err)
	}
}

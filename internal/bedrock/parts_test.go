package bedrock_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

// ttlCache is a MemoryCache that records the ttl of every Put.
type ttlCache struct {
	*bedrock.MemoryCache
	mu   sync.Mutex
	ttls []time.Duration
}

func (c *ttlCache) Put(ctx context.Context, key string, a recall.Analysis, ttl time.Duration) error {
	c.mu.Lock()
	c.ttls = append(c.ttls, ttl)
	c.mu.Unlock()
	return c.MemoryCache.Put(ctx, key, a, ttl)
}

var partLine = regexp.MustCompile(`^This is part (\d+) of (\d+)`)

// partOf names what a request asked for: "part 2" of a split conversation,
// "combine", or "whole".
func partOf(r *bedrocktest.Request) string {
	if r.Converse.ForcedTool() == "combine_summaries" {
		return "combine"
	}
	if m := partLine.FindStringSubmatch(r.UserText()); m != nil {
		return "part " + m[1]
	}
	return "whole"
}

// inParts is the shortest conversation of turns that takes n parts under
// budget.
func inParts(n, budget int) string {
	for k := 1; ; k++ {
		content := turns(k)
		if parts, _ := bedrock.PlanCalls(bedrock.EstimateTokens(content), budget); parts == n {
			return content
		}
	}
}

// TestThrottledPartIsBilledOnce: a conversation split into 4 parts whose
// part 2 is throttled 8 times is retried (here by two workers sharing one
// cache, as they share Redis) until it goes through. Each retry sends only
// what was not answered yet, so part 1 reaches the model once, part 2 nine
// times (eight throttles and the answer), parts 3 and 4 and the combining
// call once each; the analysis counts the five billed calls.
func TestThrottledPartIsBilledOnce(t *testing.T) {
	t.Parallel()
	const budget = 100
	content := inParts(4, budget)
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	var mu sync.Mutex
	sent := map[string]int{}
	s.SetHook(func(r *bedrocktest.Request) bedrocktest.Behavior {
		mu.Lock()
		defer mu.Unlock()
		p := partOf(r)
		sent[p]++
		if p == "part 2" && sent[p] <= 8 {
			return bedrocktest.Error("ThrottlingException", "")
		}
		return nil
	})
	cache := &ttlCache{MemoryCache: bedrock.NewMemoryCache(100)}
	workers := []*bedrock.Analyzer{
		newAnalyzer(t, s, bedrock.Options{InputBudgetTokens: budget, Cache: cache}),
		newAnalyzer(t, s, bedrock.Options{InputBudgetTokens: budget, Cache: cache}),
	}
	x := recall.AnalysisInput{ConversationID: "01JPARTS", Owner: "alice", Content: content}
	var got recall.Analysis
	attempts := 0
	for {
		attempts++
		var err error
		got, err = workers[attempts%2].Analyze(context.Background(), x)
		if err == nil {
			break
		}
		if recall.ErrorCode(err) != recall.ETHROTTLED || attempts > 20 {
			t.Fatalf("attempt %d: %v", attempts, err)
		}
	}
	counts := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprint(sent)
	}
	want := map[string]int{"part 1": 1, "part 2": 9, "part 3": 1, "part 4": 1, "combine": 1}
	if counts() != fmt.Sprint(want) || attempts != 9 {
		t.Fatalf("requests per part %v after %d attempts; want %v after 9", counts(), attempts, want)
	}
	var billed recall.Usage
	for _, r := range s.Requests() {
		if r.Status == 200 {
			billed = billed.Add(recall.Usage{InputTokens: r.InputTokens, OutputTokens: r.OutputTokens})
		}
	}
	if got.Calls != 5 || got.Usage != billed || got.Cached {
		t.Errorf("analysis: %d calls, usage %+v, cached %v; want the 5 billed calls, usage %+v", got.Calls, got.Usage, got.Cached, billed)
	}
	// Parts are kept for the run, the result for the cache's full term.
	partPuts := 0
	for _, ttl := range cache.ttls {
		switch ttl {
		case bedrock.DefaultPartCacheTTL:
			partPuts++
		case bedrock.DefaultCacheTTL:
		default:
			t.Errorf("a cache entry with ttl %s", ttl)
		}
	}
	if partPuts != 4 || len(cache.ttls) != 5 {
		t.Errorf("cache puts with ttls %v; want 4 parts and the result", cache.ttls)
	}
	// Another owner posting the same text reuses none of it.
	x.Owner = "bob"
	if _, err := workers[0].Analyze(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	want["part 1"], want["part 2"], want["part 3"], want["part 4"], want["combine"] = 2, 10, 2, 2, 2
	if counts() != fmt.Sprint(want) {
		t.Errorf("requests per part %v; another owner's analysis must send every part again (%v)", counts(), want)
	}
}

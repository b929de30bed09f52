package bedrock_test

import (
	"context"
	"testing"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

// TestForgetDropsTheCachedAnalysis: after Forget, the same conversation is
// analysed again (the cache no longer holds it), for a whole conversation
// and for every part of a split one; another owner's entry stays.
func TestForgetDropsTheCachedAnalysis(t *testing.T) {
	t.Parallel()
	const budget = 100
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		content string
		budget  int
		calls   int // model calls one analysis takes
	}{
		{"whole", meeting, 0, 1},
		{"split", inParts(3, budget), budget, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bedrocktest.NewServer(t, bedrocktest.Options{})
			cache := bedrock.NewMemoryCache(100)
			a := newAnalyzer(t, s, bedrock.Options{InputBudgetTokens: tc.budget, Cache: cache})
			var _ recall.Forgetter = a
			x := recall.AnalysisInput{ConversationID: "01JFORGET", Owner: "alice", Title: "Launch review", Content: tc.content}
			bobs := x
			bobs.Owner = "bob"
			for _, in := range []recall.AnalysisInput{x, x, bobs} {
				if _, err := a.Analyze(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(s.Requests()); n != 2*tc.calls {
				t.Fatalf("%d calls before Forget, want %d (alice's second analysis is a hit)", n, 2*tc.calls)
			}
			held := cache.Len()
			if err := a.Forget(ctx, x); err != nil {
				t.Fatalf("Forget: %v", err)
			}
			if want := held / 2; cache.Len() != want {
				t.Fatalf("cache holds %d entries after Forget, want bob's %d", cache.Len(), want)
			}
			got, err := a.Analyze(ctx, x)
			if err != nil || got.Cached || len(s.Requests()) != 3*tc.calls {
				t.Fatalf("after Forget: cached=%v, %d calls in all, %v; want a fresh analysis", got.Cached, len(s.Requests()), err)
			}
			if got, err := a.Analyze(ctx, bobs); err != nil || !got.Cached {
				t.Fatalf("bob's entry: cached=%v, %v; want a hit", got.Cached, err)
			}
		})
	}
}

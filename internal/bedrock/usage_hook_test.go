package bedrock_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
)

// deltas collects what the analyzer reports to a UsageRecorder.
type deltas struct {
	mu  sync.Mutex
	all []bedrock.ModelTotals
}

func (d *deltas) RecordUsage(_ context.Context, m bedrock.ModelTotals) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.all = append(d.all, m)
}

func TestUsageRecorderSeesEveryChange(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	rec := &deltas{}
	a := newAnalyzer(t, s, bedrock.Options{Usage: rec})
	ctx := context.Background()
	for range 2 { // the second is a cache hit
		if _, err := a.Analyze(ctx, in(meeting)); err != nil {
			t.Fatal(err)
		}
	}
	s.Enqueue(bedrocktest.Error("AccessDeniedException", "no access"))
	if _, err := a.Analyze(ctx, in(meeting+" Another line.")); err == nil {
		t.Fatal("want the injected error")
	}

	// Summing the deltas gives the analyzer's own totals.
	var sum bedrock.ModelTotals
	for _, d := range rec.all {
		if d.Model != a.Model() {
			t.Fatalf("delta for model %q, want %q", d.Model, a.Model())
		}
		sum.Calls += d.Calls
		sum.Failures += d.Failures
		sum.Analyses += d.Analyses
		sum.CacheHits += d.CacheHits
		sum.InputTokens += d.InputTokens
		sum.OutputTokens += d.OutputTokens
	}
	want := a.Totals().Models[0]
	if sum.Calls != want.Calls || sum.Failures != want.Failures || sum.Analyses != want.Analyses ||
		sum.CacheHits != want.CacheHits || sum.InputTokens != want.InputTokens || sum.OutputTokens != want.OutputTokens {
		t.Fatalf("deltas sum to %+v, totals say %+v", sum, want)
	}
	if sum.Calls != 1 || sum.CacheHits != 1 || sum.Failures != 1 || sum.InputTokens == 0 {
		t.Fatalf("unexpected totals %+v", sum)
	}

	// TotalsOf prices counters kept elsewhere the same way.
	priced := bedrock.TotalsOf(time.Now(), []bedrock.ModelTotals{want}, nil)
	if priced.EstimatedCostUSD <= 0 || priced.EstimatedCostUSD != a.Totals().EstimatedCostUSD {
		t.Fatalf("TotalsOf cost %v, analyzer says %v", priced.EstimatedCostUSD, a.Totals().EstimatedCostUSD)
	}
}

package bedrock

import (
	"sort"
	"time"
)

// Totals is the running usage of one Analyzer since it was made, in this
// process. Totals kept across processes (Options.Usage, in Redis when
// REDIS_URL is set) are priced into the same shape by TotalsOf, which is what
// `recall usage` prints.
type Totals struct {
	Since  time.Time     `json:"since"`
	Models []ModelTotals `json:"models"`
	// The sums over Models.
	Calls            int64   `json:"calls"`
	Failures         int64   `json:"failures"`
	CacheHits        int64   `json:"cache_hits"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	EstimatedCostUSD float64 `json:"estimated_cost_usd"`
	// Unpriced lists models that have no entry in the price table, whose
	// cost is therefore missing from the estimate.
	Unpriced []string `json:"unpriced,omitempty"`
}

// ModelTotals is the usage of one model ID.
type ModelTotals struct {
	Model string `json:"model"`
	// Calls counts model calls Bedrock answered (and billed); Failures counts
	// calls that ended in an error instead.
	Calls    int64 `json:"calls"`
	Failures int64 `json:"failures"`
	// Analyses counts analyses completed with model calls; CacheHits those
	// answered from the cache at no cost.
	Analyses     int64 `json:"analyses"`
	CacheHits    int64 `json:"cache_hits"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// EstimatedCostUSD prices the tokens with the price table; Priced is
	// false when the model is not in it (cost 0).
	EstimatedCostUSD float64 `json:"estimated_cost_usd"`
	Priced           bool    `json:"priced"`
}

// Cost prices a number of input and output tokens.
func (p Price) Cost(inputTokens, outputTokens int64) float64 {
	return (float64(inputTokens)*p.InputPerMTok + float64(outputTokens)*p.OutputPerMTok) / 1e6
}

// totals returns a snapshot; the caller holds a.mu.
func (a *Analyzer) totalsLocked() Totals {
	models := make([]ModelTotals, 0, len(a.byModel))
	for _, m := range a.byModel {
		models = append(models, *m)
	}
	return TotalsOf(a.started, models, a.prices)
}

// TotalsOf prices per-model counters with a price table (DefaultPrices when
// nil) and sums them: how `recall usage` turns totals kept elsewhere (Redis)
// into the same report the analyzer gives.
func TotalsOf(since time.Time, models []ModelTotals, prices map[string]Price) Totals {
	if prices == nil {
		prices = DefaultPrices
	}
	t := Totals{Since: since}
	for _, mt := range models {
		if p, ok := priceFor(prices, mt.Model); ok {
			mt.Priced = true
			mt.EstimatedCostUSD = p.Cost(mt.InputTokens, mt.OutputTokens)
		} else if mt.InputTokens+mt.OutputTokens > 0 {
			t.Unpriced = append(t.Unpriced, mt.Model)
		}
		t.Models = append(t.Models, mt)
		t.Calls += mt.Calls
		t.Failures += mt.Failures
		t.CacheHits += mt.CacheHits
		t.InputTokens += mt.InputTokens
		t.OutputTokens += mt.OutputTokens
		t.EstimatedCostUSD += mt.EstimatedCostUSD
	}
	sort.Slice(t.Models, func(i, j int) bool { return t.Models[i].Model < t.Models[j].Model })
	sort.Strings(t.Unpriced)
	return t
}

// model returns the counters of id, creating them; the caller holds a.mu.
func (a *Analyzer) modelLocked(id string) *ModelTotals {
	m, ok := a.byModel[id]
	if !ok {
		m = &ModelTotals{Model: id}
		a.byModel[id] = m
	}
	return m
}

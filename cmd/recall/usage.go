package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"recall/internal/backends"
	"recall/internal/bedrock"
	"recall/internal/config"
	"recall/internal/redisq"
)

const usageUsage = `
Usage: recall usage [--json]

Prints the model usage every worker has recorded — calls, failures, cache
hits, input and output tokens per model — with an estimated cost from the
price table (per million input/output tokens: Claude 3 Haiku $0.25/$1.25,
Claude 3.5 Haiku $0.80/$4, Claude Haiku 4.5 $1/$5). With search on AWS the
embedding model is listed too (Titan Text Embeddings V2, $0.02 per million
input tokens): one call per analysed conversation and one per search not
answered from the query cache.

The totals are kept in Redis, shared by every worker, so this needs
REDIS_URL. Without it the totals live inside the one 'recall serve' process
and are on its /metrics endpoint (recall_input_tokens_total, ...); each
conversation's own usage is always in its ai_usage field.`

func cmdUsage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("usage", usageUsage, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Redis.URL == "" {
		fmt.Fprintln(stderr, "recall usage: REDIS_URL is not set; without it the totals live in 'recall serve' (see its /metrics)")
		return exitCode(1)
	}
	app, err := backends.OpenQueue(ctx, cfg, newLogger(cfg.Log, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := redisq.NewUsage(app.Redis, "").Totals(ctx)
	if err != nil {
		return fmt.Errorf("read usage: %w", err)
	}
	models := make([]bedrock.ModelTotals, len(raw.Models))
	for i, m := range raw.Models {
		models[i] = bedrock.ModelTotals{Model: m.Model, Calls: m.Calls, Failures: m.Failures, Analyses: m.Analyses,
			CacheHits: m.CacheHits, InputTokens: m.InputTokens, OutputTokens: m.OutputTokens}
	}
	t := bedrock.TotalsOf(raw.Since, models, nil)
	if *asJSON {
		return writeJSON(stdout, t)
	}
	if len(t.Models) == 0 {
		fmt.Fprintln(stdout, "No model usage recorded yet.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MODEL\tANALYSES\tCALLS\tFAILURES\tCACHE HITS\tINPUT TOKENS\tOUTPUT TOKENS\tEST. COST (USD)\t")
	for _, m := range t.Models {
		cost := fmt.Sprintf("%.4f", m.EstimatedCostUSD)
		if !m.Priced {
			cost = "no price"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", m.Model, m.Analyses, m.Calls, m.Failures, m.CacheHits, m.InputTokens, m.OutputTokens, cost)
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%d\t%.4f\t\n", t.Calls, t.Failures, t.CacheHits, t.InputTokens, t.OutputTokens, t.EstimatedCostUSD)
	tw.Flush()
	if !t.Since.IsZero() {
		fmt.Fprintf(stdout, "\nSince %s.\n", t.Since.Format(time.RFC3339))
	}
	for _, m := range t.Unpriced {
		fmt.Fprintf(stdout, "No price for %s: its cost is not in the total.\n", m)
	}
	return nil
}

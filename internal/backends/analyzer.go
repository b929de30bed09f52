package backends

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"recall/internal/bedrock"
	"recall/internal/config"
	"recall/internal/extract"
	"recall/internal/recall"
	"recall/internal/redisq"
)

// OpenAnalyzer builds only the analyzer cfg selects, for commands that need
// no store or queue (recall analyze). It uses a process-local cache and
// limiter even when REDIS_URL is set.
func OpenAnalyzer(ctx context.Context, cfg config.Config, log *slog.Logger) (recall.Analyzer, error) {
	return openAnalyzer(ctx, cfg, log, nil, openBedrock)
}

// openAnalyzer builds the analyzer. With a Redis client (REDIS_URL set) the
// Bedrock analyzer's cache, quota limiter and usage totals live in Redis and
// are shared by every worker: an identical conversation costs no tokens on
// any worker, the fleet as a whole stays under the model's quota, and
// `recall usage` sees every worker's spend.
func openAnalyzer(ctx context.Context, cfg config.Config, log *slog.Logger, rdb redis.UniversalClient,
	bedrockFn func(context.Context, config.Config, *slog.Logger, redis.UniversalClient) (recall.Analyzer, error)) (recall.Analyzer, error) {
	if cfg.Analyzer.Kind != "bedrock" {
		return localAnalyzer(cfg), nil
	}
	return bedrockFn(ctx, cfg, log, rdb)
}

// localAnalyzer is the extractive analyzer cfg describes.
func localAnalyzer(cfg config.Config) *extract.Analyzer {
	return extract.New(extract.Options{Latency: cfg.Analyzer.Latency, Location: cfg.Analyzer.Dates.Location, DateOrder: cfg.Analyzer.Dates.Order})
}

func openBedrock(ctx context.Context, cfg config.Config, log *slog.Logger, rdb redis.UniversalClient) (recall.Analyzer, error) {
	client, err := bedrock.NewClient(ctx, cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("backends: %w", err)
	}
	return bedrock.New(client, bedrockOptions(cfg, log, rdb)), nil
}

// bedrockOptions are the analyzer's options for cfg. The limiter paces
// under BEDROCK_RPM/BEDROCK_TPM (no quota: no pacing); with Redis its
// buckets, the cache and the usage totals are shared by every worker.
func bedrockOptions(cfg config.Config, log *slog.Logger, rdb redis.UniversalClient) bedrock.Options {
	lim := bedrock.LimiterOptions{RequestsPerMinute: cfg.Bedrock.RPM, TokensPerMinute: cfg.Bedrock.TPM, Model: cfg.Bedrock.Model}
	o := bedrock.Options{
		ModelID: cfg.Bedrock.Model, Region: cfg.Region,
		MaxTokens: cfg.Bedrock.MaxTokens, InputBudgetTokens: cfg.Bedrock.InputBudget,
		CacheTTL: cfg.Bedrock.CacheTTL, Logger: log, Dates: cfg.Analyzer.Dates,
	}
	if rdb != nil {
		o.Cache = redisq.NewCache(rdb, "")
		lim.State = newFallbackState("pacing", redisq.NewState(rdb, ""), log)
		o.Usage = usageRecorder{usage: redisq.NewUsage(rdb, ""), log: log}
	}
	o.Limiter = bedrock.NewLimiter(lim)
	return o
}

// configuredElsewhere stands for the Bedrock analyzer in a function that
// never analyses (create, get, health): the process function holds the real
// one. Its health says "configured" as the real one does until a call fails,
// and a function of that process is not the one that would see the failure.
type configuredElsewhere struct{}

func (configuredElsewhere) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	return recall.Analysis{}, recall.Errorf(recall.EINTERNAL, "this function does not analyse conversations; the process function does")
}

func (configuredElsewhere) Health(context.Context) (string, error) { return "configured", nil }

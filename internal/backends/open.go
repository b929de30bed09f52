// Package backends opens what a config.Config selects: the store (DynamoDB
// or the embedded store), its search index, the queue (Redis or
// in-process) and the analyzer (Bedrock or local), with Open, or one part
// with OpenStore, OpenQueue or OpenAnalyzer. It is the one package that
// knows every backend (the embedded store and index aside, see below), and
// it knows nothing else: loggers, HTTP handlers and Lambda handlers are
// built by the mains, each opening only what it uses.
//
// A package's imports are linked with it whether or not their code is
// called: every package's initialisation and package-level variables stay
// in the binary. Two things follow. This package is not part of package
// config, so the web function, which reads its configuration and opens
// nothing, links no backend. And it does not import the embedded store
// and search index, which only run locally: the caller hands them in
// (Embedded, from package embedded), so no Lambda function links them.
package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/redis/go-redis/v9"

	"recall/internal/config"
	"recall/internal/dynamo"
	"recall/internal/memq"
	"recall/internal/ratelimit"
	"recall/internal/recall"
	"recall/internal/redisq"
)

// Set is the store and the queue a configuration opened, and what
// must be closed when the process stops. The open functions do not wait for
// remote backends to answer: a Redis or DynamoDB outage at start-up shows in
// health checks, not as a failure to start, so creates keep being accepted.
type Set struct {
	Config config.Config
	Log    *slog.Logger
	Store  recall.Store // nil after OpenQueue
	Queue  recall.Queue // nil after OpenStore
	// Redis is the Redis client when REDIS_URL is set, for the analyzer's
	// shared cache and for commands that inspect Redis (usage).
	Redis redis.UniversalClient
	// Index keeps conversations findable (nil when the store has none, or
	// after OpenStore); Fulltext is the same index when it is the embedded
	// one, for the commands that rebuild it or ask how far behind it is.
	Index    recall.Index
	Fulltext EmbeddedIndex

	embedded Embedded
	closers  []func() error
	awsCfg   *aws.Config
	limiter  recall.Limiter
}

// Open opens the store, its search index (brought up to date with the
// store) and the queue cfg selects, the embedded store and index through
// emb (the zero Embedded in a Lambda function). Close the Set when done.
// It refuses to open the store in a Lambda function without
// RECALL_CURSOR_KEY (see errNoCursorKey), and without DYNAMODB_TABLE when
// emb opens nothing (see errNoTable).
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, emb Embedded) (*Set, error) {
	b := &Set{Config: cfg, Log: log, embedded: emb}
	if err := b.openStore(ctx); err != nil {
		b.Close()
		return nil, err
	}
	// The queue before the index: search on AWS records its embeddings in
	// the usage totals of the Redis the queue opens (openHybrid).
	if err := b.openQueue(); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.OpenIndex(ctx); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.catchUp(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// OpenStore opens only the store cfg selects, the embedded one through
// emb, for commands that check it alone (recall doctor) or open its index
// next (recall reindex).
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger, emb Embedded) (*Set, error) {
	b := &Set{Config: cfg, Log: log, embedded: emb}
	if err := b.openStore(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// OpenQueue opens only the queue cfg selects, for commands that inspect the
// queue without holding the store (recall queue, recall doctor).
func OpenQueue(_ context.Context, cfg config.Config, log *slog.Logger) (*Set, error) {
	b := &Set{Config: cfg, Log: log}
	if err := b.openQueue(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// OpenAnalyzer opens the analyzer b's configuration selects. With REDIS_URL
// set, the Bedrock analyzer's cache, quota limiter and usage totals live in
// b's Redis and are shared by every worker.
func (b *Set) OpenAnalyzer(ctx context.Context) (recall.Analyzer, error) {
	return openAnalyzer(ctx, b.Config, b.Log, b.Redis, openBedrock)
}

// StandIn is the analyzer of a function that never analyses (create, get,
// health): the local analyzer itself, which costs nothing, or for Bedrock a
// stand-in whose health reports "configured" as the real one does until a
// call fails. Such a function never links the Bedrock client.
func StandIn(cfg config.Config) recall.Analyzer {
	if cfg.Analyzer.Kind == "bedrock" {
		return configuredElsewhere{}
	}
	return localAnalyzer(cfg)
}

// ServiceConfig is the recall.Config cfg describes over b's store and queue
// and analyzer a, with the per-owner limits. The caller adds what only it
// knows: an Observer, a Nudger, and, locally, a cursor key derived from the
// local secret when RECALL_CURSOR_KEY is unset.
func (b *Set) ServiceConfig(a recall.Analyzer) recall.Config {
	w := b.Config.Worker
	var key []byte
	if b.Config.Auth.CursorKey != "" {
		key = []byte(b.Config.Auth.CursorKey)
	}
	return recall.Config{
		Store: b.Store, Queue: b.Queue, Analyzer: a, Index: b.Index, Logger: b.Log, CursorKey: key,
		MaxAttempts: w.MaxAttempts, MaxThrottleRetries: w.MaxThrottleRetries, RetryBase: w.RetryBase, RetryMax: w.RetryMax,
		AnalyzeTimeout: w.AnalyzeTimeout, StaleAfter: w.StaleAfter,
		Limiter: b.ownerLimits(),
	}
}

// ownerLimits is the per-owner limiter (RECALL_OWNER_*), built once per
// Set so every Service of the process shares it: its counts live in
// Redis when REDIS_URL is set, shared by every process and kept in-process
// while Redis fails, and in this process otherwise. Nil when every limit
// is off.
func (b *Set) ownerLimits() recall.Limiter {
	l := b.Config.Limits
	if l.OwnerRPS == 0 && l.OwnerTokensPerDay == 0 {
		return nil
	}
	if b.limiter == nil {
		var state ratelimit.State = ratelimit.NewMemoryState()
		if b.Redis != nil {
			state = newFallbackState("per-owner limits", redisq.NewState(b.Redis, ""), b.Log)
		}
		b.limiter = ratelimit.NewOwners(ratelimit.OwnerLimits{
			RequestsPerSecond: l.OwnerRPS, Burst: l.OwnerBurst, TokensPerDay: l.OwnerTokensPerDay, State: state,
		})
	}
	return b.limiter
}

// AWS loads the AWS SDK configuration once: credentials, region and the
// SDK's own endpoint overrides (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB,
// ...), so one binary talks to AWS, LocalStack or a test server alike.
func (b *Set) AWS(ctx context.Context) (aws.Config, error) {
	if b.awsCfg != nil {
		return *b.awsCfg, nil
	}
	c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(b.Config.Region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("backends: load AWS configuration: %w", err)
	}
	b.awsCfg = &c
	return c, nil
}

// Close releases the backends in reverse order of opening.
func (b *Set) Close() error {
	var errs []error
	for i := len(b.closers) - 1; i >= 0; i-- {
		errs = append(errs, b.closers[i]())
	}
	b.closers = nil
	return errors.Join(errs...)
}

// errNoCursorKey is why a Lambda function without RECALL_CURSOR_KEY does
// not start: it has no local secret to derive a key from, every function
// must share the key, and a fixed default would let anyone who reads the
// source forge cursors.
var errNoCursorKey = errors.New("RECALL_CURSOR_KEY is not set: every function that opens the store signs and checks list cursors with it, so set the same long random value on each (e.g. openssl rand -hex 32; template.yaml passes one from Secrets Manager)")

func (b *Set) openStore(ctx context.Context) error {
	// A Lambda function that holds the store lists conversations, and so
	// signs cursors that any other function must be able to check.
	if b.Config.Mode == config.Lambda && b.Config.Auth.CursorKey == "" {
		return errNoCursorKey
	}
	cfg := b.Config.Store
	if cfg.DynamoTable != "" {
		awsCfg, err := b.AWS(ctx)
		if err != nil {
			return err
		}
		st := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.DynamoTable, dynamo.Options{Logger: b.Log})
		if cfg.CreateTable {
			if err := st.CreateTable(ctx); err != nil {
				return fmt.Errorf("backends: create table %s: %w", cfg.DynamoTable, err)
			}
		}
		b.Store = st
		return nil
	}
	if b.embedded.Store == nil {
		return errNoTable
	}
	st, err := b.embedded.Store(cfg.DataDir)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, st.Close)
	b.Store = st
	return nil
}

func (b *Set) openQueue() error {
	cfg := b.Config
	if cfg.Redis.URL != "" {
		consumer := cfg.ConsumerName()
		client, err := redisq.NewClient(cfg.Redis.URL, redisq.ClientOptions{Cluster: cfg.Redis.Cluster, ClientName: "recall-" + consumer})
		if err != nil {
			return recall.Wrap(err, recall.EINVALID, "REDIS_URL ("+config.RedactURL(cfg.Redis.URL)+") is not usable: want redis://[user:password@]host:port[/db], or rediss:// for TLS")
		}
		q := redisq.New(client, redisq.Options{Consumer: consumer, Visibility: cfg.Worker.Visibility,
			FairShare: cfg.Worker.FairShare, Logger: b.Log})
		// Closers run in reverse: the queue releases its consumer name
		// before the client closes.
		b.closers = append(b.closers, client.Close, q.Close)
		b.Redis = client
		b.Queue = q
		return nil
	}
	q := memq.New(memq.Options{Visibility: cfg.Worker.Visibility, FairShare: cfg.Worker.FairShare})
	b.closers = append(b.closers, func() error { q.Close(); return nil })
	b.Queue = q
	return nil
}

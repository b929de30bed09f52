package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/redis/go-redis/v9"

	"recall/internal/awslambda"
	"recall/internal/boltstore"
	"recall/internal/dynamo"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/redisq"
)

// App is a configured Recall: the service over the chosen backends, and what
// must be closed when the process stops.
type App struct {
	Config   Config
	Service  *recall.Service
	Store    recall.Store
	Queue    recall.Queue
	Analyzer recall.Analyzer
	Log      *slog.Logger
	// Redis is the Redis client when REDIS_URL is set, for commands that
	// inspect it (doctor, queue).
	Redis redis.UniversalClient

	closers []func() error
	awsCfg  *aws.Config
}

// aws loads the AWS SDK configuration once: credentials, region and the
// SDK's own endpoint overrides (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB,
// ...), so one binary talks to AWS, LocalStack or a test server alike.
func (a *App) aws(ctx context.Context) (aws.Config, error) {
	if a.awsCfg != nil {
		return *a.awsCfg, nil
	}
	c, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(a.Config.Region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("config: load AWS configuration: %w", err)
	}
	a.awsCfg = &c
	return c, nil
}

// Close releases the backends in reverse order of opening.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Part is an optional piece a binary links in. The local runner takes every
// part (Open); each Lambda function names only those it uses (OpenWith), so
// the linker leaves the Bedrock analyzer out of the functions that never
// analyse and the Lambda client out of those that never nudge: smaller
// binaries, faster cold starts.
type Part func(*parts)

type parts struct {
	bedrock  func(ctx context.Context, cfg Config, log *slog.Logger, rdb redis.UniversalClient) (recall.Analyzer, error)
	nudger   func(awsCfg aws.Config, function string) recall.Nudger
	observer recall.Observer
}

// WithObserver has the service report creates and job outcomes to obs (the
// Lambda functions' CloudWatch metrics).
func WithObserver(obs recall.Observer) Part { return func(p *parts) { p.observer = obs } }

// WithBedrock links in the Bedrock analyzer (RECALL_AI=bedrock). Without it
// the binary cannot analyse with Bedrock; its health check reports the
// analyzer as configured.
func WithBedrock() Part { return func(p *parts) { p.bedrock = openBedrock } }

// WithNudger links in the Lambda client that nudges the process function
// after each enqueue (RECALL_PROCESS_FUNCTION).
func WithNudger() Part {
	return func(p *parts) {
		p.nudger = func(awsCfg aws.Config, fn string) recall.Nudger {
			return awslambda.NewNudger(lambda.NewFromConfig(awsCfg), fn)
		}
	}
}

// Open builds the backends cfg selects, with every part (and any extra, such
// as WithObserver), and the service over them. It does not wait for remote
// backends to answer: a Redis or DynamoDB outage at start-up shows in health
// checks, not as a failure to start, so creates keep being accepted.
func Open(ctx context.Context, cfg Config, log *slog.Logger, extra ...Part) (*App, error) {
	return OpenWith(ctx, cfg, log, append([]Part{WithBedrock(), WithNudger()}, extra...)...)
}

// OpenWith is Open with only the named parts linked in.
func OpenWith(ctx context.Context, cfg Config, log *slog.Logger, with ...Part) (app *App, err error) {
	var p parts
	for _, part := range with {
		part(&p)
	}
	app = &App{Config: cfg, Log: log}
	opened := app // the error returns below clear app before this defer runs
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	if app.Store, err = openStore(ctx, cfg, app); err != nil {
		return nil, err
	}
	if app.Queue, err = openQueue(ctx, cfg, app); err != nil {
		return nil, err
	}
	if cfg.AI == "bedrock" && p.bedrock == nil {
		app.Analyzer = configuredElsewhere{}
	} else if app.Analyzer, err = openAnalyzer(ctx, cfg, log, app.Redis, p.bedrock); err != nil {
		return nil, err
	}
	key, err := cfg.cursorKey()
	if err != nil {
		return nil, err
	}
	var nudger recall.Nudger
	if cfg.ProcessFunction != "" && p.nudger != nil {
		awsCfg, err := app.aws(ctx)
		if err != nil {
			return nil, err
		}
		nudger = p.nudger(awsCfg, cfg.ProcessFunction)
	}
	app.Service = recall.NewService(recall.Config{
		Nudger: nudger, Observer: p.observer,
		Store: app.Store, Queue: app.Queue, Analyzer: app.Analyzer, Logger: log,
		CursorKey: key, MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax,
		AnalyzeTimeout: cfg.AnalyzeTimeout, StaleAfter: cfg.StaleAfter,
	})
	return app, nil
}

func openStore(ctx context.Context, cfg Config, app *App) (recall.Store, error) {
	if cfg.DynamoTable != "" {
		awsCfg, err := app.aws(ctx)
		if err != nil {
			return nil, err
		}
		st := dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.DynamoTable, dynamo.Options{Logger: app.Log})
		if cfg.CreateTable {
			if err := st.CreateTable(ctx); err != nil {
				return nil, fmt.Errorf("config: create table %s: %w", cfg.DynamoTable, err)
			}
		}
		return st, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("config: create data dir %s: %w", cfg.DataDir, err)
	}
	st, err := boltstore.Open(filepath.Join(cfg.DataDir, "recall.db"), boltstore.Options{})
	if err != nil {
		return nil, err
	}
	app.closers = append(app.closers, st.Close)
	return st, nil
}

// OpenQueue builds only the queue cfg selects, for commands that inspect the
// queue without holding the store (recall queue). Close the App when done.
func OpenQueue(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	app := &App{Config: cfg, Log: log}
	q, err := openQueue(ctx, cfg, app)
	if err != nil {
		app.Close()
		return nil, err
	}
	app.Queue = q
	return app, nil
}

func openQueue(_ context.Context, cfg Config, app *App) (recall.Queue, error) {
	if cfg.RedisURL != "" {
		consumer := cfg.ConsumerName()
		client, err := redisq.NewClient(cfg.RedisURL, redisq.ClientOptions{Cluster: cfg.RedisCluster, ClientName: "recall-" + consumer})
		if err != nil {
			return nil, fmt.Errorf("config: REDIS_URL: %w", err)
		}
		app.closers = append(app.closers, client.Close)
		app.Redis = client
		return redisq.New(client, redisq.Options{Consumer: consumer, Visibility: cfg.Visibility, Logger: app.Log}), nil
	}
	q := memq.New(memq.Options{Visibility: cfg.Visibility})
	app.closers = append(app.closers, func() error { q.Close(); return nil })
	return q, nil
}

package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/memq"
	"recall/internal/recall"
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

	closers []func() error
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

// Open builds the backends cfg selects and the service over them. It does not
// wait for remote backends to answer: a Redis or DynamoDB outage at start-up
// shows in health checks, not as a failure to start, so creates keep being
// accepted.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (app *App, err error) {
	app = &App{Config: cfg, Log: log}
	defer func() {
		if err != nil {
			app.Close()
		}
	}()
	if app.Store, err = openStore(ctx, cfg, app); err != nil {
		return nil, err
	}
	if app.Queue, err = openQueue(ctx, cfg, app); err != nil {
		return nil, err
	}
	if app.Analyzer, err = openAnalyzer(ctx, cfg, app); err != nil {
		return nil, err
	}
	key, err := cfg.cursorKey()
	if err != nil {
		return nil, err
	}
	app.Service = recall.NewService(recall.Config{
		Store: app.Store, Queue: app.Queue, Analyzer: app.Analyzer, Logger: log,
		CursorKey: key, MaxAttempts: cfg.MaxAttempts, RetryBase: cfg.RetryBase, RetryMax: cfg.RetryMax,
		AnalyzeTimeout: cfg.AnalyzeTimeout, StaleAfter: cfg.StaleAfter,
	})
	return app, nil
}

func openStore(_ context.Context, cfg Config, app *App) (recall.Store, error) {
	if cfg.DynamoTable != "" {
		return nil, fmt.Errorf("config: DYNAMODB_TABLE is set but this build has no DynamoDB store yet")
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

func openQueue(_ context.Context, cfg Config, app *App) (recall.Queue, error) {
	if cfg.RedisURL != "" {
		return nil, fmt.Errorf("config: REDIS_URL is set but this build has no Redis queue yet")
	}
	q := memq.New(memq.Options{Visibility: cfg.Visibility})
	app.closers = append(app.closers, func() error { q.Close(); return nil })
	return q, nil
}

func openAnalyzer(_ context.Context, cfg Config, _ *App) (recall.Analyzer, error) {
	if cfg.AI == "bedrock" {
		return nil, fmt.Errorf("config: RECALL_AI=bedrock but this build has no Bedrock analyzer yet")
	}
	return extract.New(extract.Options{Latency: cfg.AnalyzerLatency}), nil
}

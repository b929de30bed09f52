package main

import (
	"context"
	"fmt"
	"log/slog"

	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"

	"recall/internal/auth"
	"recall/internal/awslambda"
	"recall/internal/backends"
	"recall/internal/config"
	"recall/internal/embedded"
	"recall/internal/recall"
)

// localApp is the service over the configured backends, wired as every local
// command that runs it needs: the runner (serve, worker, bench), invoke and
// reprocess. Its Close closes the backends.
type localApp struct {
	*backends.Set
	Service *recall.Service
	secret  []byte
}

// appOptions adds to what the configuration selects.
type appOptions struct {
	// analyzer, if set, replaces the configured analyzer (tests script one).
	analyzer recall.Analyzer
	// observer hears of creates and job outcomes (the runner's /metrics).
	observer recall.Observer
}

// openApp opens cfg's store, queue and analyzer and builds the service over
// them. List cursors are signed with RECALL_CURSOR_KEY, or with a key
// derived from the local secret, so cursors survive a restart and one
// process's cursors work in another on the same data directory.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger, opts appOptions) (*localApp, error) {
	b, err := backends.Open(ctx, cfg, log, embedded.Openers())
	if err != nil {
		return nil, err
	}
	a := &localApp{Set: b}
	if err := a.wire(ctx, opts); err != nil {
		b.Close()
		return nil, err
	}
	return a, nil
}

func (a *localApp) wire(ctx context.Context, opts appOptions) error {
	analyzer := opts.analyzer
	if analyzer == nil {
		var err error
		if analyzer, err = a.OpenAnalyzer(ctx); err != nil {
			return err
		}
	}
	sc := a.ServiceConfig(analyzer)
	sc.Observer = opts.observer
	if sc.CursorKey == nil {
		secret, err := a.Secret()
		if err != nil {
			return err
		}
		sc.CursorKey = auth.DeriveKey(secret, "recall list cursor")
	}
	// Locally too the create path nudges the Lambda function
	// RECALL_PROCESS_FUNCTION names, so `recall invoke create` does what
	// the create function does.
	if fn := a.Config.Worker.ProcessFunction; fn != "" {
		awsCfg, err := a.AWS(ctx)
		if err != nil {
			return err
		}
		sc.Nudger = awslambda.NewNudger(lambdaapi.NewFromConfig(awsCfg), fn)
	}
	a.Service = recall.NewService(sc)
	return nil
}

// Secret returns the HS256 secret local tokens are signed with:
// RECALL_JWT_SECRET, or the one kept in the data directory.
func (a *localApp) Secret() ([]byte, error) {
	if a.secret != nil {
		return a.secret, nil
	}
	s, err := localSecret(a.Config)
	a.secret = s
	return s, err
}

// localSecret is RECALL_JWT_SECRET, or the secret kept in (and, the first
// time, generated in) the data directory.
func localSecret(cfg config.Config) ([]byte, error) {
	if cfg.Auth.JWTSecret != "" {
		return []byte(cfg.Auth.JWTSecret), nil
	}
	return auth.LocalSecret(cfg.Store.DataDir)
}

// localConfig reads the local configuration, with the data directory a
// command's --data names (dataDir) in place of the configured one when it
// is set.
func localConfig(dataDir string) (config.Config, error) {
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	if dataDir != "" {
		cfg.Store.DataDir = dataDir
	}
	return cfg, nil
}

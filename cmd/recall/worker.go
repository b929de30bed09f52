package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"recall/internal/config"
)

const workerUsage = `
Usage: recall worker [--grace 15s] [--no-sweep]

Runs only the processing worker and the sweeper, without the HTTP API: the
way to add processing capacity next to 'recall serve', or to run the API and
the worker as separate processes. It needs a shared queue and store
(REDIS_URL and DYNAMODB_TABLE): the embedded store and in-process queue
belong to the one 'recall serve' that holds them.

SIGINT or SIGTERM stops taking jobs, lets in-flight jobs finish within
--grace, and exits 0; jobs still running then are redelivered later.`

func cmdWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("worker", workerUsage, stderr)
	grace := fs.Duration("grace", defaultGrace, "how long shutdown waits for in-flight jobs")
	noSweep := fs.Bool("no-sweep", false, "do not run the sweeper in this process")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Redis.URL == "" {
		fmt.Fprintln(stderr, "recall worker: set REDIS_URL (and DYNAMODB_TABLE): a separate worker needs a queue it can share; 'recall serve' runs its own worker")
		return exitCode(2)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := openRunner(ctx, cfg, newLogger(cfg.Log, stderr), runnerOptions{Grace: *grace, NoSweep: *noSweep})
	if err != nil {
		return err
	}
	return r.run(ctx)
}

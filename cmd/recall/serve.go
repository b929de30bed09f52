package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"recall/internal/auth"
	"recall/internal/config"
	"recall/internal/httpapi"
	"recall/internal/recall"
)

const serveUsage = `
Usage: recall serve [--addr :8000] [--data ./.recall] [--grace 15s] [--no-worker] [--user NAME]

Runs the HTTP API and the processing worker in one process, with the sweeper
that re-enqueues conversations a queue lost. With no configuration it uses
embedded defaults: a persistent store in --data, an in-process queue and the
local extractive analyzer. REDIS_URL, DYNAMODB_TABLE and RECALL_AI=bedrock
select the other backends (see the README's configuration table).

With --no-worker it serves only the API (and the sweeper), leaving processing
to 'recall worker' processes that share its Redis queue and store.

At start it prints the web app's address and a sign-in link for --user (on
standard output, not the log). Tokens for the API and links for other users
come from 'recall token --user NAME [--link]'. SIGINT or SIGTERM
stops accepting requests, lets in-flight jobs finish within --grace, and exits 0.`

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveUsage, stderr)
	addr := fs.String("addr", envOr("RECALL_ADDR", ":8000"), "listen address (also RECALL_ADDR)")
	data := fs.String("data", "", "data directory for the embedded store and local secret (default $RECALL_DATA_DIR or ./.recall)")
	grace := fs.Duration("grace", 15*time.Second, "how long shutdown waits for in-flight requests and jobs")
	noWorker := fs.Bool("no-worker", false, "serve the API only; process with 'recall worker' (needs REDIS_URL)")
	signInAs := fs.String("user", defaultUser(), "whom the web app sign-in link printed at start signs in")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if *noWorker && cfg.RedisURL == "" {
		fmt.Fprintln(stderr, "recall serve: --no-worker needs REDIS_URL: the in-process queue is only worked by this process")
		return exitCode(2)
	}
	log := cfg.NewLogger(stderr)

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// /metrics (Prometheus) sits on the API's listener, outside its auth.
	pm, err := newPromMetrics()
	if err != nil {
		return err
	}
	app, err := config.Open(ctx, cfg, log, config.WithObserver(pm.exp))
	if err != nil {
		return err
	}
	defer app.Close()
	secret, err := cfg.Secret()
	if err != nil {
		return err
	}
	verifier, err := auth.NewHS256(secret)
	if err != nil {
		return err
	}
	webApp, err := localWeb()
	if err != nil {
		return err
	}
	handler := withMetrics(httpapi.Routes(app.Service, httpapi.Options{Auth: verifier, Logger: log, Web: webApp}), pm.handler(app))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	// Timeouts and header limits keep slow or hostile clients from holding
	// connections open and starving everyone else.
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	log.InfoContext(ctx, "recall serving", append([]any{"addr", ln.Addr().String()}, cfg.LogAttrs()...)...)
	if err := printSignIn(stdout, ln.Addr().String(), secret, *signInAs); err != nil {
		return err
	}

	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan error, 1)
	go func() {
		if *noWorker {
			workerDone <- app.Service.SweepLoop(workerCtx, cfg.SweepEvery)
			return
		}
		workerDone <- app.Service.Work(workerCtx, recall.WorkerConfig{
			Concurrency: cfg.Concurrency, SweepEvery: cfg.SweepEvery, Grace: *grace,
		})
	}()
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-serveDone:
	}
	log.InfoContext(ctx, "shutting down", "grace", grace.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "error", err.Error())
	}
	stopWorker()
	werr := <-workerDone
	if werr != nil {
		log.Warn("worker shutdown", "error", werr.Error())
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	log.Info("stopped")
	return nil
}

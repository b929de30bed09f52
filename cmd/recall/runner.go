package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"recall/internal/auth"
	"recall/internal/config"
	"recall/internal/httpapi"
	"recall/internal/recall"
)

// defaultGrace is how long shutdown waits for in-flight requests, and then
// for in-flight jobs, unless --grace says otherwise.
const defaultGrace = 15 * time.Second

// runner is Recall run locally in one process: the HTTP API, Prometheus
// metrics on a listener of their own (RECALL_METRICS_ADDR), and the worker
// with its sweeper, over the configured backends. `recall
// serve`, `recall worker`, `recall bench` and the tests all build it here,
// as wtf's cmd/wtfd has one Main for the binary and its tests, so the
// server's timeouts and limits and the order of shutdown cannot drift apart.
//
// openRunner opens it, start runs it in the background, close stops it
// gracefully; run does all three around a context.
type runner struct {
	app  *localApp
	log  *slog.Logger
	opts runnerOptions

	// URL is the API's base URL, when it serves one.
	URL    string
	ln     net.Listener
	srv    *http.Server
	secret []byte // the HS256 secret the API verifies tokens with
	// MetricsURL is the metrics listener's base URL (GET MetricsURL +
	// "/metrics"), when it serves one: only with the API, and not when
	// RECALL_METRICS_ADDR is off or its default address is taken.
	MetricsURL string
	metrics    *metricsServer

	started    bool
	stopWorker context.CancelFunc
	serveDone  chan error
	workerDone chan error
	stopped    chan struct{} // closed when the server or the worker stops on its own
	stopOnce   sync.Once
	closeOnce  sync.Once
	closeErr   error
}

// runnerOptions says what the runner runs.
type runnerOptions struct {
	// Addr is the API's listen address; empty runs no API (recall worker).
	Addr string
	// NoWorker runs the sweeper without the worker (serve --no-worker).
	NoWorker bool
	// NoSweep runs the worker without the sweeper (worker --no-sweep).
	NoSweep bool
	// Grace bounds each step of shutdown: the API's in-flight requests,
	// then the worker's in-flight jobs (defaultGrace).
	Grace time.Duration
	// Analyzer, if set, replaces the configured analyzer (tests).
	Analyzer recall.Analyzer
}

// openRunner opens cfg's backends and the service over them, and, with an
// address, listens on it. Nothing runs until start.
func openRunner(ctx context.Context, cfg config.Config, log *slog.Logger, opts runnerOptions) (*runner, error) {
	if opts.Grace <= 0 {
		opts.Grace = defaultGrace
	}
	r := &runner{log: log, opts: opts, stopped: make(chan struct{})}
	var pm *promMetrics
	ao := appOptions{analyzer: opts.Analyzer}
	if opts.Addr != "" {
		var err error
		if pm, err = newPromMetrics(); err != nil {
			return nil, err
		}
		ao.observer = pm.exp
	}
	a, err := openApp(ctx, cfg, log, ao)
	if err != nil {
		return nil, err
	}
	r.app = a
	if opts.Addr != "" {
		if err := r.listen(pm); err != nil {
			a.Close()
			return nil, err
		}
		if r.metrics, err = listenMetrics(cfg.Metrics, pm.handler(a.Queue, log), log); err != nil {
			r.ln.Close()
			a.Close()
			return nil, err
		}
		if r.metrics != nil {
			r.MetricsURL = "http://" + r.metrics.ln.Addr().String()
		}
	}
	return r, nil
}

// listen builds the API's HTTP server and opens its listener.
func (r *runner) listen(pm *promMetrics) error {
	var err error
	if r.secret, err = r.app.Secret(); err != nil {
		return err
	}
	verifier, err := auth.NewHS256(r.secret)
	if err != nil {
		return err
	}
	webApp, err := localWeb()
	if err != nil {
		return err
	}
	api := httpapi.Routes(r.app.Service, httpapi.Options{Auth: verifier, Logger: r.log, Web: webApp})
	// Timeouts and header limits keep slow or hostile clients from holding
	// connections open and starving everyone else.
	r.srv = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if r.ln, err = net.Listen("tcp", r.opts.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", r.opts.Addr, err)
	}
	r.URL = "http://" + r.ln.Addr().String()
	return nil
}

// start serves the API and runs the worker (or only the sweeper) in the
// background. They stop only through close: cancelling ctx does not stop
// them, so shutdown happens in order, the API first.
func (r *runner) start(ctx context.Context) {
	r.started = true
	cfg := r.app.Config
	if r.srv != nil {
		attrs := []any{"addr", r.ln.Addr().String(), "metrics_addr", "off"}
		if r.metrics != nil {
			attrs[3] = r.metrics.ln.Addr().String()
			r.metrics.start(r.stop)
		}
		r.log.InfoContext(ctx, "recall serving", append(attrs, cfg.LogAttrs()...)...)
		r.serveDone = make(chan error, 1)
		go func() { r.serveDone <- r.srv.Serve(r.ln); r.stop() }()
	} else {
		// The queue logs the consumer name it holds once its first receive
		// claims one: this name, or this name with a suffix while a live
		// process holds it.
		r.log.InfoContext(ctx, "recall worker running", append([]any{"consumer_asked_for", cfg.ConsumerName()}, cfg.LogAttrs()...)...)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopWorker = cancel
	r.workerDone = make(chan error, 1)
	go func() { r.workerDone <- r.work(wctx); r.stop() }()
}

func (r *runner) work(ctx context.Context) error {
	w := r.app.Config.Worker
	if r.opts.NoWorker {
		return r.app.Service.SweepLoop(ctx, w.SweepEvery)
	}
	sweep := w.SweepEvery
	if r.opts.NoSweep {
		sweep = 0
	}
	return r.app.Service.Work(ctx, recall.WorkerConfig{Concurrency: w.Concurrency, SweepEvery: sweep, Grace: r.opts.Grace})
}

func (r *runner) stop() { r.stopOnce.Do(func() { close(r.stopped) }) }

// run starts the runner and closes it when ctx ends or the server fails.
func (r *runner) run(ctx context.Context) error {
	r.start(ctx)
	select {
	case <-ctx.Done():
	case <-r.stopped:
	}
	return r.close()
}

// Token mints a bearer token for user that the runner's API accepts.
func (r *runner) Token(user string, ttl time.Duration) (string, error) {
	secret, err := r.app.Secret()
	if err != nil {
		return "", err
	}
	return auth.Mint(secret, user, ttl)
}

// close stops the API, waiting up to Grace for in-flight requests, then the
// worker, which lets in-flight jobs finish within Grace (any still running
// are redelivered later), and closes the backends. Calls after the first
// return the first's result.
func (r *runner) close() error {
	r.closeOnce.Do(func() { r.closeErr = r.shutdown() })
	return r.closeErr
}

func (r *runner) shutdown() error {
	if !r.started {
		if r.ln != nil {
			r.ln.Close()
		}
		if r.metrics != nil {
			r.metrics.ln.Close()
		}
		return r.app.Close()
	}
	r.log.Info("shutting down", "grace", r.opts.Grace.String())
	var errs []error
	if r.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.Grace)
		if err := r.srv.Shutdown(ctx); err != nil {
			r.log.Warn("http shutdown", "error", err.Error())
		}
		cancel()
		if err := <-r.serveDone; !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", err))
		}
		if r.metrics != nil {
			errs = append(errs, r.metrics.shutdown())
		}
	}
	r.stopWorker()
	if err := <-r.workerDone; err != nil {
		r.log.Warn("worker shutdown", "error", err.Error())
	}
	errs = append(errs, r.app.Close())
	r.log.Info("stopped")
	return errors.Join(errs...)
}

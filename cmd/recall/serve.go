package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
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
	grace := fs.Duration("grace", defaultGrace, "how long shutdown waits for in-flight requests and jobs")
	noWorker := fs.Bool("no-worker", false, "serve the API only; process with 'recall worker' (needs REDIS_URL)")
	signInAs := fs.String("user", defaultUser(), "whom the web app sign-in link printed at start signs in")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := localConfig(*data)
	if err != nil {
		return err
	}
	if *noWorker && cfg.Redis.URL == "" {
		fmt.Fprintln(stderr, "recall serve: --no-worker needs REDIS_URL: the in-process queue is only worked by this process")
		return exitCode(2)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := openRunner(ctx, cfg, newLogger(cfg.Log, stderr), runnerOptions{Addr: *addr, Grace: *grace, NoWorker: *noWorker})
	if err != nil {
		return err
	}
	if err := printSignIn(stdout, r.ln.Addr().String(), r.secret, *signInAs); err != nil {
		r.close()
		return err
	}
	return r.run(ctx)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"recall/internal/backends"
	"recall/internal/config"
	"recall/internal/embedded"
	"recall/internal/recall"
)

const queueUsage = `
Usage: recall queue stats [--json]
       recall queue dlq [--limit 50] [--json]
       recall queue redrive (--all | ID...)

Inspects the configured queue (REDIS_URL). 'stats' prints depth per
priority, jobs in flight, the oldest waiting job's age, scheduled retries,
dead letters and consumers — what 'redis-cli LLEN celery' and Flower gave
the old design. 'dlq' lists dead letters with the reason each failed.
'redrive' starts a new analysis run of each one's conversation (as a
reprocess does: attempts start again), queues it, and then removes the
dead letter; it opens the store too, so with the embedded store stop
'recall serve' first.

Without REDIS_URL the queue lives inside 'recall serve' and is gone with it;
use its /metrics endpoint there instead.`

func cmdQueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := newFlags("queue", queueUsage, stderr)
		if err := parse(fs, args); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "recall queue: name a subcommand: stats, dlq or redrive")
		return errUsage
	}
	sub := args[0]
	fs := newFlags("queue "+sub, queueUsage, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "dead letters to list")
	all := fs.Bool("all", false, "redrive every dead letter")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Redis.URL == "" {
		fmt.Fprintln(stderr, "recall queue: REDIS_URL is not set; the in-process queue lives inside 'recall serve' (see its /metrics)")
		return exitCode(1)
	}
	log := newLogger(cfg.Log, stderr)
	var app *backends.Set
	if sub == "redrive" {
		app, err = backends.Open(ctx, cfg, log, embedded.Openers()) // it restarts runs in the store
	} else {
		app, err = backends.OpenQueue(ctx, cfg, log)
	}
	if err != nil {
		return err
	}
	defer app.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch sub {
	case "stats":
		return queueStats(ctx, app.Queue, *asJSON, stdout)
	case "dlq":
		return queueDLQ(ctx, app.Queue, *limit, *asJSON, stdout)
	case "redrive":
		ids := fs.Args()
		if len(ids) == 0 && !*all {
			fmt.Fprintln(stderr, "recall queue redrive: name dead-letter IDs (from 'recall queue dlq') or pass --all")
			return errUsage
		}
		return queueRedrive(ctx, app, ids, stdout)
	}
	fmt.Fprintf(stderr, "recall queue: unknown subcommand %q: want stats, dlq or redrive\n", sub)
	return errUsage
}

func queueStats(ctx context.Context, q recall.Queue, asJSON bool, stdout io.Writer) error {
	st, err := q.Stats(ctx)
	if err != nil {
		return fmt.Errorf("queue stats: %w", err)
	}
	if asJSON {
		return writeJSON(stdout, st)
	}
	printStats(stdout, st)
	return nil
}

func queueDLQ(ctx context.Context, q recall.Queue, limit int, asJSON bool, stdout io.Writer) error {
	dl, ok := q.(recall.DeadLetters)
	if !ok {
		return fmt.Errorf("this queue keeps no dead letters")
	}
	letters, err := dl.DeadLetters(ctx, limit)
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	if asJSON {
		return writeJSON(stdout, letters)
	}
	if len(letters) == 0 {
		fmt.Fprintln(stdout, "No dead letters.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONVERSATION\tOWNER\tATTEMPT\tAT\tREASON")
	for _, d := range letters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Job.ConversationID, d.Job.Owner, d.Job.Attempt, d.At.Format(time.RFC3339), d.Reason)
	}
	return tw.Flush()
}

// queueRedrive gives the conversations of the dead letters ids names (all
// of them when ids is empty) a new run, and removes the letters.
func queueRedrive(ctx context.Context, app *backends.Set, ids []string, stdout io.Writer) error {
	dl, ok := app.Queue.(recall.DeadLetters)
	if !ok {
		return fmt.Errorf("this queue keeps no dead letters")
	}
	svc := recall.NewService(app.ServiceConfig(backends.StandIn(app.Config)))
	rep, err := svc.Redrive(ctx, dl, ids)
	if err != nil {
		return fmt.Errorf("redrive: %w", err)
	}
	fmt.Fprintf(stdout, "Redrove %d dead letter(s): %d conversation(s) restarted with a new run.\n", rep.Removed, rep.Restarted)
	return nil
}

func printStats(w io.Writer, st recall.QueueStats) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range recall.Priorities {
		fmt.Fprintf(tw, "waiting (%s)\t%d\n", p, st.Depth[p])
	}
	fmt.Fprintf(tw, "in flight\t%d\n", st.InFlight)
	fmt.Fprintf(tw, "oldest waiting\t%s\n", st.OldestAge.Round(time.Millisecond))
	fmt.Fprintf(tw, "scheduled retries\t%d\n", st.Scheduled)
	fmt.Fprintf(tw, "dead letters\t%d\n", st.Dead)
	for _, c := range st.Consumers {
		fmt.Fprintf(tw, "consumer %s\t%d pending, idle %s\n", c.Name, c.Pending, c.Idle.Round(time.Millisecond))
	}
	tw.Flush()
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

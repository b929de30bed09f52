package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"recall/internal/boltstore"
	"recall/internal/config"
	"recall/internal/recall"
)

const reprocessUsage = `
Usage: recall reprocess [--status failed] [--since 24h|RFC3339] [--owner NAME]
                        [--rate 50/s] [--limit N] [--dry-run] [--resume]
                        [--checkpoint FILE] [--data ./.recall] [--progress auto]

Starts a fresh analysis run for every conversation that matches the filters,
on the configured backends directly: the backfill after a model outage or a
prompt fix. --status is pending, processing, done, failed or any; --since
keeps conversations last changed within that long (24h) or since that time
(2026-01-02T15:04:05Z); --owner keeps one owner's. Conversations are
reprocessed one at a time at no more than --rate (50/s, 3000/m, or a plain
number per second), with a progress line and a summary.

The scan is resumable: its position is written to the checkpoint file (in
the data directory by default) every second and when interrupted (Ctrl-C),
so 'recall reprocess --resume' with the same filters carries on where it
stopped. A crash (not an interrupt) may repeat up to one second's worth of
conversations on resume, which only starts another run of them. --limit
stops after N conversations, leaving a checkpoint to resume from.

On DynamoDB without --owner this is a table Scan, billed for every item: an
occasional operator backfill, not something to schedule. With the embedded
store, stop 'recall serve' first (one process can open the file); the
in-process queue does not outlive this command, so restart recall serve and
its sweeper enqueues the reprocessed conversations within RECALL_STALE_AFTER.`

// checkpoint is what reprocess writes to resume a scan.
type checkpoint struct {
	Filter      recall.ScanFilter `json:"filter"`
	Cursor      string            `json:"cursor"`
	Reprocessed int               `json:"reprocessed"`
	Errors      int               `json:"errors"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func cmdReprocess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reprocess", reprocessUsage, stderr)
	status := fs.String("status", "failed", "pending, processing, done, failed or any")
	since := fs.String("since", "", "only conversations changed within this long (24h) or since this RFC 3339 time")
	owner := fs.String("owner", "", "only this owner's conversations")
	rateFlag := fs.String("rate", "50/s", "most reprocess calls per second (N/s, N/m or N)")
	limit := fs.Int("limit", 0, "stop after this many conversations (0: no limit); resume with --resume")
	dryRun := fs.Bool("dry-run", false, "list what matches without reprocessing it")
	resume := fs.Bool("resume", false, "carry on from the checkpoint of an interrupted run with the same filters")
	cpPath := fs.String("checkpoint", "", "checkpoint file (default DATA_DIR/reprocess.checkpoint)")
	data := fs.String("data", "", "data directory (default $RECALL_DATA_DIR or ./.recall)")
	progressFlag := fs.String("progress", progressAuto, "progress display: auto, bar, plain or none")
	if err := parse(fs, args); err != nil {
		return err
	}
	usage := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "recall reprocess: "+format+"\n", a...)
		return errUsage
	}
	f := recall.ScanFilter{Owner: *owner}
	switch s := recall.Status(*status); s {
	case recall.StatusPending, recall.StatusProcessing, recall.StatusDone, recall.StatusFailed:
		f.Status = s
	case "any":
	default:
		return usage("--status=%q: want pending, processing, done, failed or any", *status)
	}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return usage("--since: %v", err)
		}
		f.Since = t.UTC()
	}
	perSec, err := parseRate(*rateFlag)
	if err != nil {
		return usage("--rate: %v", err)
	}
	if *limit < 0 {
		return usage("--limit must not be negative")
	}
	mode, err := progressMode(*progressFlag, stderr)
	if err != nil {
		return usage("%v", err)
	}

	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if *data != "" {
		cfg.Store.DataDir = *data
	}
	if *cpPath == "" {
		*cpPath = filepath.Join(cfg.Store.DataDir, "reprocess.checkpoint")
	}
	cp := checkpoint{Filter: f}
	if *resume {
		saved, err := readCheckpoint(*cpPath)
		if err != nil {
			return err
		}
		// The checkpoint holds the filters; any given again must agree. A
		// relative --since cannot: it would mean a later time now.
		given := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
		switch {
		case given["since"] && !strings.ContainsAny(*since, "T:"):
			return usage("drop --since with --resume: the checkpoint keeps the time it meant (%s)", saved.Filter.Since.Format(time.RFC3339))
		case given["status"] && saved.Filter.Status != f.Status,
			given["owner"] && saved.Filter.Owner != f.Owner,
			given["since"] && !saved.Filter.Since.Equal(f.Since):
			return fmt.Errorf("the checkpoint %s is for other filters (%s); drop the filters to resume it, or drop --resume to start over", *cpPath, describeFilter(saved.Filter))
		}
		cp = saved
		f = saved.Filter
	} else if _, err := os.Stat(*cpPath); err == nil && !*dryRun {
		fmt.Fprintf(stderr, "recall reprocess: note: starting over; %s holds an earlier run's position (use --resume to continue it)\n", *cpPath)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := newLogger(cfg.Log, stderr)
	app, err := openBackends(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	scanner, ok := app.Store.(recall.Scanner)
	if !ok {
		return fmt.Errorf("the %T store cannot scan across owners", app.Store)
	}

	r := &reprocessRun{svc: app.Service, scanner: scanner, cp: cp, cpPath: *cpPath, dryRun: *dryRun,
		limit: *limit, interval: time.Duration(float64(time.Second) / perSec), stdout: stdout}
	started := cp.Reprocessed
	p := startProgress(stderr, mode, "reprocess", 0, func() string {
		if e := r.errors(); e > 0 {
			return fmt.Sprintf("errors %d", e)
		}
		return ""
	})
	r.progress = p
	start := time.Now()
	runErr := r.run(ctx)
	p.Finish()

	verb := "reprocessed"
	if *dryRun {
		verb = "would reprocess"
	}
	took := time.Since(start).Round(time.Millisecond)
	fmt.Fprintf(stdout, "%s %d conversations (%s) in %s, %d errors", verb, r.cp.Reprocessed-started, describeFilter(f), took, r.cp.Errors)
	if *resume {
		fmt.Fprintf(stdout, "; %d in all since the first run", r.cp.Reprocessed)
	}
	fmt.Fprintln(stdout)
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, errLimit) {
		return runErr
	}
	switch {
	case errors.Is(runErr, errLimit) || ctx.Err() != nil:
		why := "stopped at --limit"
		if ctx.Err() != nil {
			why = "interrupted"
		}
		fmt.Fprintf(stdout, "%s; continue with: recall reprocess --resume%s\n", why, resumeArgs(*cpPath, *data, fs))
		if ctx.Err() != nil {
			return exitCode(130)
		}
	case !*dryRun:
		if _, queue, _ := cfg.Backends(); queue == "memory" && r.cp.Reprocessed > started {
			fmt.Fprintln(stdout, "note: the in-process queue ends with this command; start recall serve and its sweeper enqueues these within RECALL_STALE_AFTER")
		}
	}
	if r.cp.Errors > 0 {
		return exitCode(1)
	}
	return nil
}

var errLimit = errors.New("limit reached")

// reprocessRun walks the scan and reprocesses what it finds.
type reprocessRun struct {
	svc      *recall.Service
	scanner  recall.Scanner
	cp       checkpoint
	cpPath   string
	dryRun   bool
	limit    int
	interval time.Duration
	stdout   io.Writer
	progress *progress

	errCount int
	lastSave time.Time
}

func (r *reprocessRun) errors() int { return r.errCount }

func (r *reprocessRun) run(ctx context.Context) error {
	defer r.save(true)
	next := time.Now()
	done := 0
	for {
		page, err := r.scanner.Scan(ctx, r.cp.Filter, r.cp.Cursor, 100)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("scan: %w", err)
		}
		for _, c := range page.Items {
			if r.limit > 0 && done == r.limit {
				return errLimit
			}
			if !r.dryRun {
				// Pace: one call per interval, without bursts after a stall.
				if wait := time.Until(next); wait > 0 {
					recall.Sleep(ctx, wait)
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if next = next.Add(r.interval); next.Before(time.Now()) {
					next = time.Now()
				}
				if _, err := r.svc.Reprocess(ctx, c.Owner, c.ID); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					r.errCount++
					r.cp.Errors++
					fmt.Fprintf(r.stdout, "error: %s (owner %s): %s\n", c.ID, c.Owner, recall.ErrorMessage(err))
				}
			} else {
				fmt.Fprintf(r.stdout, "%s\t%s\t%s\t%s\n", c.ID, c.Owner, c.Status, c.UpdatedAt.Format(time.RFC3339))
			}
			done++
			r.cp.Reprocessed++
			r.cp.Cursor = r.scanner.ScanCursor(c)
			r.progress.Add(1)
			r.save(false)
		}
		if page.Next == "" {
			r.cp.Cursor = ""
			return nil
		}
		r.cp.Cursor = page.Next
	}
}

// save writes the checkpoint at most once a second, or now when final. A
// finished scan removes it.
func (r *reprocessRun) save(final bool) {
	if r.dryRun {
		return
	}
	if !final && time.Since(r.lastSave) < time.Second {
		return
	}
	r.lastSave = time.Now()
	if final && r.cp.Cursor == "" {
		os.Remove(r.cpPath)
		return
	}
	r.cp.UpdatedAt = time.Now().UTC()
	if err := writeCheckpoint(r.cpPath, r.cp); err != nil {
		fmt.Fprintf(r.stdout, "warning: could not save the checkpoint: %v\n", err)
	}
}

// writeCheckpoint replaces path atomically, so an interrupt mid-write never
// leaves half a checkpoint.
func writeCheckpoint(path string, cp checkpoint) error {
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readCheckpoint(path string) (checkpoint, error) {
	var cp checkpoint
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cp, fmt.Errorf("no checkpoint at %s to resume from: the last run finished, or ran with another --checkpoint or --data", path)
	}
	if err != nil {
		return cp, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("checkpoint %s is damaged (%v); delete it to start over", path, err)
	}
	return cp, nil
}

// resumeArgs is what a resume must repeat besides the checkpoint's own
// filters: where the checkpoint and the data are, if not the defaults.
func resumeArgs(cpPath, data string, fs *flag.FlagSet) string {
	var b strings.Builder
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	if given["checkpoint"] {
		fmt.Fprintf(&b, " --checkpoint %s", cpPath)
	}
	if given["data"] {
		fmt.Fprintf(&b, " --data %s", data)
	}
	if given["rate"] {
		fmt.Fprintf(&b, " --rate %s", fs.Lookup("rate").Value)
	}
	return b.String()
}

func describeFilter(f recall.ScanFilter) string {
	var parts []string
	if f.Status != "" {
		parts = append(parts, "status "+string(f.Status))
	} else {
		parts = append(parts, "any status")
	}
	if f.Owner != "" {
		parts = append(parts, "owner "+f.Owner)
	}
	if !f.Since.IsZero() {
		parts = append(parts, "changed since "+f.Since.Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

// parseSince reads a duration back from now ("24h", "90m") or an RFC 3339
// time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q: want a positive duration", s)
		}
		return now.Add(-d), nil
	}
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n > 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a duration such as 24h or 7d, or a time such as 2026-01-02T15:04:05Z", s)
	}
	return t, nil
}

// parseRate reads "50/s", "3000/m", "2/h" or "50" into calls per second.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a positive rate such as 50/s or 3000/m", s)
	}
	switch unit {
	case "", "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("%q: the unit must be s, m or h", s)
}

// openBackends opens the service over the configured backends, giving the
// commonest fault of an operator command, the embedded file held by recall
// serve, its fix.
func openBackends(ctx context.Context, cfg config.Config, log *slog.Logger) (*localApp, error) {
	a, err := openApp(ctx, cfg, log, appOptions{})
	if errors.Is(err, boltstore.ErrInUse) {
		return nil, fmt.Errorf("%w: stop recall serve or point --data elsewhere", err)
	}
	return a, err
}

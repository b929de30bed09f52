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
	"sync"
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

// checkpoint is what reprocess writes to resume a scan. Its counts are
// since the first run of the scan.
type checkpoint struct {
	Filter      recall.ScanFilter `json:"filter"`
	Cursor      string            `json:"cursor"`
	Reprocessed int               `json:"reprocessed"`
	Errors      int               `json:"errors"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func cmdReprocess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := reprocessFlags(stderr)
	if err := parse(a.fs, args); err != nil {
		return err
	}
	f, perSec, mode, err := a.check()
	if err != nil {
		return err
	}

	cfg, err := localConfig(a.data)
	if err != nil {
		return err
	}
	if a.cpPath == "" {
		a.cpPath = filepath.Join(cfg.Store.DataDir, "reprocess.checkpoint")
	}
	cp, err := a.startingPoint(f)
	if err != nil {
		return err
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

	r := &reprocessRun{base: cp, cpPath: a.cpPath, dryRun: a.dryRun, stdout: stdout}
	p := startProgress(stderr, mode, "reprocess", 0, r.errorsLine)
	start := time.Now()
	rep, runErr := app.Service.ReprocessAll(ctx, scanner, recall.BulkReprocess{
		Filter: cp.Filter, Rate: perSec, Limit: a.limit, DryRun: a.dryRun, Cursor: cp.Cursor,
		Progress: func(st recall.BulkStep) { r.step(st); p.Set(int64(st.Report.Processed)) },
	})
	r.save(rep, true)
	p.Finish()

	total := r.summarize(rep, time.Since(start), a.resume)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	switch {
	case !rep.Finished || ctx.Err() != nil:
		why := "stopped at --limit"
		if ctx.Err() != nil {
			why = "interrupted"
		}
		fmt.Fprintf(stdout, "%s; continue with: recall reprocess --resume%s\n", why, resumeArgs(a.cpPath, a.data, a.fs))
		if ctx.Err() != nil {
			return exitCode(130)
		}
	case !a.dryRun:
		if _, queue, _ := cfg.Backends(); queue == "memory" && rep.Processed > 0 {
			fmt.Fprintln(stdout, "note: the in-process queue ends with this command; start recall serve and its sweeper enqueues these within RECALL_STALE_AFTER")
		}
	}
	if total.Errors > 0 {
		return exitCode(1)
	}
	return nil
}

// reprocessArgs is recall reprocess's command line.
type reprocessArgs struct {
	fs                                                 *flag.FlagSet
	stderr                                             io.Writer
	status, since, owner, rate, cpPath, data, progress string
	limit                                              int
	dryRun, resume                                     bool
}

func reprocessFlags(stderr io.Writer) *reprocessArgs {
	a := &reprocessArgs{fs: newFlags("reprocess", reprocessUsage, stderr), stderr: stderr}
	fs := a.fs
	fs.StringVar(&a.status, "status", "failed", "pending, processing, done, failed or any")
	fs.StringVar(&a.since, "since", "", "only conversations changed within this long (24h) or since this RFC 3339 time")
	fs.StringVar(&a.owner, "owner", "", "only this owner's conversations")
	fs.StringVar(&a.rate, "rate", "50/s", "most reprocess calls per second (N/s, N/m or N)")
	fs.IntVar(&a.limit, "limit", 0, "stop after this many conversations (0: no limit); resume with --resume")
	fs.BoolVar(&a.dryRun, "dry-run", false, "list what matches without reprocessing it")
	fs.BoolVar(&a.resume, "resume", false, "carry on from the checkpoint of an interrupted run with the same filters")
	fs.StringVar(&a.cpPath, "checkpoint", "", "checkpoint file (default DATA_DIR/reprocess.checkpoint)")
	fs.StringVar(&a.data, "data", "", "data directory (default $RECALL_DATA_DIR or ./.recall)")
	fs.StringVar(&a.progress, "progress", progressAuto, "progress display: auto, bar, plain or none")
	return a
}

// usage reports a bad command line; the command exits 2.
func (a *reprocessArgs) usage(format string, args ...any) error {
	fmt.Fprintf(a.stderr, "recall reprocess: "+format+"\n", args...)
	return errUsage
}

// check validates the flags and returns the scan filter they ask for, the
// rate in calls per second, and the progress display mode.
func (a *reprocessArgs) check() (recall.ScanFilter, float64, string, error) {
	f := recall.ScanFilter{Owner: a.owner}
	switch s := recall.Status(a.status); s {
	case recall.StatusPending, recall.StatusProcessing, recall.StatusDone, recall.StatusFailed:
		f.Status = s
	case "any":
	default:
		return f, 0, "", a.usage("--status=%q: want pending, processing, done, failed or any", a.status)
	}
	if a.since != "" {
		t, err := parseSince(a.since, time.Now())
		if err != nil {
			return f, 0, "", a.usage("--since: %v", err)
		}
		f.Since = t.UTC()
	}
	perSec, err := parseRate(a.rate)
	if err != nil {
		return f, 0, "", a.usage("--rate: %v", err)
	}
	if a.limit < 0 {
		return f, 0, "", a.usage("--limit must not be negative")
	}
	mode, err := progressMode(a.progress, a.stderr)
	if err != nil {
		return f, 0, "", a.usage("%v", err)
	}
	return f, perSec, mode, nil
}

// startingPoint is the checkpoint this run starts from: a fresh one for
// filter f, or with --resume the saved one, whose filters any given again
// must agree with.
func (a *reprocessArgs) startingPoint(f recall.ScanFilter) (checkpoint, error) {
	if !a.resume {
		if _, err := os.Stat(a.cpPath); err == nil && !a.dryRun {
			fmt.Fprintf(a.stderr, "recall reprocess: note: starting over; %s holds an earlier run's position (use --resume to continue it)\n", a.cpPath)
		}
		return checkpoint{Filter: f}, nil
	}
	saved, err := readCheckpoint(a.cpPath)
	if err != nil {
		return saved, err
	}
	// A relative --since cannot agree: it would mean a later time now.
	given := map[string]bool{}
	a.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	switch {
	case given["since"] && !strings.ContainsAny(a.since, "T:"):
		return saved, a.usage("drop --since with --resume: the checkpoint keeps the time it meant (%s)", saved.Filter.Since.Format(time.RFC3339))
	case given["status"] && saved.Filter.Status != f.Status,
		given["owner"] && saved.Filter.Owner != f.Owner,
		given["since"] && !saved.Filter.Since.Equal(f.Since):
		return saved, fmt.Errorf("the checkpoint %s is for other filters (%s); drop the filters to resume it, or drop --resume to start over", a.cpPath, describeFilter(saved.Filter))
	}
	return saved, nil
}

// reprocessRun is the command's side of a bulk reprocess: it prints each
// conversation's line, keeps the checkpoint file, and holds the loop's
// latest report for the progress display.
type reprocessRun struct {
	base     checkpoint // as this run started; its counts are earlier runs'
	cpPath   string
	dryRun   bool
	stdout   io.Writer
	lastSave time.Time

	// mu guards rep, written by the loop (through step) and read by the
	// progress display's goroutine: the loop's report is the one count.
	mu  sync.Mutex
	rep recall.BulkReport
}

// step takes the loop's word about one conversation: it prints its line
// (listed in a dry run, or its error), keeps the report, and checkpoints.
func (r *reprocessRun) step(st recall.BulkStep) {
	c := st.Conversation
	switch {
	case r.dryRun:
		fmt.Fprintf(r.stdout, "%s\t%s\t%s\t%s\n", c.ID, c.Owner, c.Status, c.UpdatedAt.Format(time.RFC3339))
	case st.Err != nil:
		fmt.Fprintf(r.stdout, "error: %s (owner %s): %s\n", c.ID, c.Owner, recall.ErrorMessage(st.Err))
	}
	r.mu.Lock()
	r.rep = st.Report
	r.mu.Unlock()
	r.save(st.Report, false)
}

// errorsLine is the progress display's suffix: this run's errors so far.
func (r *reprocessRun) errorsLine() string {
	r.mu.Lock()
	n := r.rep.Errors
	r.mu.Unlock()
	if n > 0 {
		return fmt.Sprintf("errors %d", n)
	}
	return ""
}

// after is the checkpoint once the loop has reported rep: where to resume,
// and the counts since the first run.
func (r *reprocessRun) after(rep recall.BulkReport) checkpoint {
	cp := r.base
	cp.Cursor = rep.Cursor
	cp.Reprocessed += rep.Processed
	cp.Errors += rep.Errors
	return cp
}

// save writes the checkpoint at most once a second, or now when final. A
// finished scan removes it.
func (r *reprocessRun) save(rep recall.BulkReport, final bool) {
	if r.dryRun {
		return
	}
	if !final && time.Since(r.lastSave) < time.Second {
		return
	}
	r.lastSave = time.Now()
	cp := r.after(rep)
	if final && cp.Cursor == "" {
		os.Remove(r.cpPath)
		return
	}
	cp.UpdatedAt = time.Now().UTC()
	if err := writeCheckpoint(r.cpPath, cp); err != nil {
		fmt.Fprintf(r.stdout, "warning: could not save the checkpoint: %v\n", err)
	}
}

// summarize prints what this run did (and, resumed, what the scan has done
// since its first run), and returns the counts since the first run.
func (r *reprocessRun) summarize(rep recall.BulkReport, took time.Duration, resumed bool) checkpoint {
	total := r.after(rep)
	verb := "reprocessed"
	if r.dryRun {
		verb = "would reprocess"
	}
	fmt.Fprintf(r.stdout, "%s %d conversations (%s) in %s, %d errors", verb, rep.Processed, describeFilter(total.Filter), took.Round(time.Millisecond), total.Errors)
	if resumed {
		fmt.Fprintf(r.stdout, "; %d in all since the first run", total.Reprocessed)
	}
	fmt.Fprintln(r.stdout)
	return total
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

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"recall/internal/config"
	"recall/internal/httpapi"
	"recall/internal/recall"
)

const benchUsage = `
Usage: recall bench [-n 1000] [-c 16] [--url URL --token TOKEN] [--timeout 5m]
                    [--analyzer-latency 0] [--workers N] [--progress auto] [--json]

Creates N conversations at concurrency C, waits until every one is analysed
(or --timeout passes), and reports create throughput and latency, and the
time from created_at to processed_at as the API reports them, with errors
by HTTP status.

Without --url it starts Recall in this process on a free loopback port: on a
fresh temporary data directory with the embedded defaults, or on whatever
REDIS_URL, DYNAMODB_TABLE and RECALL_AI configure, under an owner of its
own. --analyzer-latency makes the local analyzer stand in for a slow model
(as RECALL_ANALYZER_LATENCY does for recall serve); --workers sets the
worker's concurrency (RECALL_CONCURRENCY).

With --url it loads a running or deployed API; --token (or RECALL_TOKEN) is
the bearer token to use. Exits 1 when a create failed or a conversation did
not finish in time.`

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", benchUsage, stderr)
	n := fs.Int("n", 1000, "conversations to create")
	c := fs.Int("c", 16, "concurrent requests")
	url := fs.String("url", "", "base URL of a running API (default: start one in this process)")
	token := fs.String("token", os.Getenv("RECALL_TOKEN"), "bearer token for --url (also RECALL_TOKEN)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for every conversation to be processed")
	latency := fs.Duration("analyzer-latency", 0, "latency added to each local analysis in the in-process runner")
	workers := fs.Int("workers", 0, "the in-process worker's concurrency (default $RECALL_CONCURRENCY or 8)")
	data := fs.String("data", "", "data directory for the in-process runner (default: a temporary one, removed after)")
	progressFlag := fs.String("progress", progressAuto, "progress display: auto, bar, plain or none")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *c < 1 || *timeout <= 0 || *latency < 0 || *workers < 0 {
		fmt.Fprintln(stderr, "recall bench: -n, -c and --timeout must be positive, --analyzer-latency and --workers not negative")
		return errUsage
	}
	mode, err := progressMode(*progressFlag, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "recall bench:", err)
		return errUsage
	}

	target, tok := strings.TrimRight(*url, "/"), *token
	var inProcess string
	if target == "" {
		r, cleanup, err := benchRunner(ctx, *data, *latency, *workers, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		if tok, err = r.Token("bench-"+rand.Text()[:8], 24*time.Hour); err != nil {
			return err
		}
		target, inProcess = r.URL, describeRunner(r.app.Config)
	} else if tok == "" {
		fmt.Fprintln(stderr, "recall bench: --url needs --token (or RECALL_TOKEN)")
		return errUsage
	}

	b := &bench{base: target, token: tok, n: *n, c: *c, timeout: *timeout, progress: mode, stderr: stderr,
		client: benchClient(*c)}
	rep := b.run(ctx)
	rep.Target = target
	if inProcess != "" {
		rep.Target = inProcess
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout)
	}
	if rep.failed() {
		return exitCode(1)
	}
	return nil
}

// benchRunner starts the runner bench loads when given no --url: on the
// configured backends, on a fresh temporary data directory unless data
// names one, logging only warnings and errors (a request line per create
// and poll would bury the report). cleanup closes it and removes the
// temporary directory.
func benchRunner(ctx context.Context, data string, latency time.Duration, workers int, stderr io.Writer) (*runner, func(), error) {
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	cleanup := func() {}
	if data == "" {
		dir, err := os.MkdirTemp("", "recall-bench-")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		data = dir
	}
	cfg.Store.DataDir = data
	if latency > 0 {
		setAnalyzerLatency(&cfg, latency)
	}
	if workers > 0 {
		cfg.Worker.Concurrency = workers
	}
	// A load test is one owner far past any normal use, which the
	// per-owner limits exist to refuse; and the runner it loads is
	// scraped by nobody.
	cfg.Limits, cfg.Metrics = config.Limits{}, config.Metrics{}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, err := openRunner(ctx, cfg, log, runnerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	r.start(ctx)
	return r, func() { r.close(); cleanup() }, nil
}

// describeRunner names the in-process runner's backends for the report.
func describeRunner(cfg config.Config) string {
	store, queue, ai := cfg.Backends()
	s := fmt.Sprintf("in-process runner (%s store, %s queue, %s analyzer, %d workers", store, queue, ai, cfg.Worker.Concurrency)
	if l := cfg.Analyzer.Latency; l > 0 {
		s += fmt.Sprintf(", analyzer latency %s", l)
	}
	return s + ")"
}

// setAnalyzerLatency sets the local analyzer's added latency and makes room
// for it in the analysis and visibility timeouts, as the environment
// variable does when it is read.
func setAnalyzerLatency(cfg *config.Config, d time.Duration) {
	cfg.Analyzer.Latency = d
	cfg.Worker.AnalyzeTimeout = max(cfg.Worker.AnalyzeTimeout, 30*time.Second+d)
	cfg.Worker.Visibility = max(cfg.Worker.Visibility, cfg.Worker.AnalyzeTimeout+30*time.Second)
}

// benchClient keeps enough idle connections for c concurrent requests, so
// the benchmark measures Recall rather than TCP handshakes.
func benchClient(c int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2*c + 16
	t.MaxIdleConnsPerHost = 2*c + 16
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Percentiles summarises a set of durations in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		// Nearest rank: the smallest value with at least q of the set at
		// or below it.
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

// BenchReport is what recall bench measured; --json prints it as is.
type BenchReport struct {
	Target      string `json:"target"`
	Requested   int    `json:"requested"`
	Concurrency int    `json:"concurrency"`

	// Created counts creates answered 201; CreateErrors counts the rest by
	// HTTP status ("network" when no answer came).
	Created         int            `json:"created"`
	CreateErrors    map[string]int `json:"create_errors"`
	CreateSeconds   float64        `json:"create_seconds"`
	CreatesPerSec   float64        `json:"creates_per_second"`
	CreateLatencyMS Percentiles    `json:"create_latency_ms"`

	// Done and Failed count conversations that reached those states;
	// Unfinished were still pending or processing at the timeout.
	Done       int            `json:"done"`
	Failed     int            `json:"failed"`
	Unfinished int            `json:"unfinished"`
	PollErrors map[string]int `json:"poll_errors"`
	// ProcessedSeconds runs from the first created_at to the last
	// processed_at; ProcessedPerSec is finished conversations over it.
	ProcessedSeconds float64 `json:"processed_seconds"`
	ProcessedPerSec  float64 `json:"processed_per_second"`
	// TimeToProcessedMS is processed_at − created_at per conversation, both
	// stamped by the server (or, where processed_at is missing, the first
	// poll that saw it finished minus the create's answer).
	TimeToProcessedMS Percentiles `json:"time_to_processed_ms"`
	TimedOut          bool        `json:"timed_out"`
	WallSeconds       float64     `json:"wall_seconds"`
}

func (r *BenchReport) failed() bool {
	return r.Created < r.Requested || r.Unfinished > 0
}

func (r *BenchReport) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	fmt.Fprintf(tw, "conversations\t%d requested at concurrency %d\n", r.Requested, r.Concurrency)
	fmt.Fprintf(tw, "created\t%d in %.2fs: %.0f/s\n", r.Created, r.CreateSeconds, r.CreatesPerSec)
	fmt.Fprintf(tw, "create latency\tp50 %s  p95 %s  p99 %s  max %s\n", fmtMS(r.CreateLatencyMS.P50), fmtMS(r.CreateLatencyMS.P95), fmtMS(r.CreateLatencyMS.P99), fmtMS(r.CreateLatencyMS.Max))
	fmt.Fprintf(tw, "processed\t%d done, %d failed, %d unfinished; %.2fs from first create to last result: %.0f/s\n", r.Done, r.Failed, r.Unfinished, r.ProcessedSeconds, r.ProcessedPerSec)
	fmt.Fprintf(tw, "time to processed\tp50 %s  p95 %s  p99 %s  max %s\n", fmtMS(r.TimeToProcessedMS.P50), fmtMS(r.TimeToProcessedMS.P95), fmtMS(r.TimeToProcessedMS.P99), fmtMS(r.TimeToProcessedMS.Max))
	fmt.Fprintf(tw, "create errors\t%s\n", fmtCounts(r.CreateErrors))
	fmt.Fprintf(tw, "poll errors\t%s\n", fmtCounts(r.PollErrors))
	if r.TimedOut {
		fmt.Fprintf(tw, "timed out\twaited the whole --timeout; %d conversations never finished\n", r.Unfinished)
	}
	fmt.Fprintf(tw, "wall time\t%.2fs\n", r.WallSeconds)
	tw.Flush()
}

func fmtMS(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v/1000, 'f', 2, 64) + "s"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// bench is one benchmark run against base.
type bench struct {
	base, token string
	n, c        int
	timeout     time.Duration
	progress    string
	stderr      io.Writer
	client      *http.Client
}

// created is one conversation the benchmark made.
type created struct {
	id         string
	createdAt  time.Time // server's
	answeredAt time.Time // client's, when the create answered
	finished   bool
}

func (b *bench) run(ctx context.Context) *BenchReport {
	rep := &BenchReport{Requested: b.n, Concurrency: b.c, CreateErrors: map[string]int{}, PollErrors: map[string]int{}}
	wallStart := time.Now()
	convs := b.createAll(ctx, rep)
	b.pollAll(ctx, rep, convs)
	rep.WallSeconds = round2(time.Since(wallStart).Seconds())
	return rep
}

// createAll creates b.n conversations from b.c clients and records the
// create figures in rep.
func (b *bench) createAll(ctx context.Context, rep *BenchReport) []*created {
	var (
		mu        sync.Mutex
		convs     []*created
		latencies []time.Duration
		errCount  atomic.Int64
	)
	p := startProgress(b.stderr, b.progress, "create", int64(b.n), func() string {
		if e := errCount.Load(); e > 0 {
			return fmt.Sprintf("errors %d", e)
		}
		return ""
	})
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range b.c {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				c, status := b.create(ctx, i)
				took := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, took)
				if c != nil {
					convs = append(convs, c)
				} else {
					rep.CreateErrors[status]++
					errCount.Add(1)
				}
				mu.Unlock()
				p.Add(1)
			}
		})
	}
	for i := range b.n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	p.Finish()
	createTook := time.Since(start)
	rep.Created = len(convs)
	rep.CreateSeconds = round2(createTook.Seconds())
	if createTook > 0 {
		rep.CreatesPerSec = round2(float64(rep.Created) / createTook.Seconds())
	}
	rep.CreateLatencyMS = percentiles(latencies)
	return convs
}

// polling is what the poll phase has seen so far; mu guards it and rep's
// poll figures.
type polling struct {
	mu             sync.Mutex
	ttp            []time.Duration
	lastProcessed  time.Time
	finished       atomic.Int64
	pollErrorCount atomic.Int64
}

// pollAll reads every unfinished conversation until it is done or failed,
// in rounds, by b.c pollers, until b.timeout; it records the processing
// figures in rep.
func (b *bench) pollAll(ctx context.Context, rep *BenchReport, convs []*created) {
	deadline := time.Now().Add(b.timeout)
	var st polling
	var firstCreated time.Time
	for _, c := range convs {
		if firstCreated.IsZero() || c.createdAt.Before(firstCreated) {
			firstCreated = c.createdAt
		}
	}
	pp := startProgress(b.stderr, b.progress, "processed", int64(len(convs)), func() string {
		if e := st.pollErrorCount.Load(); e > 0 {
			return fmt.Sprintf("poll errors %d", e)
		}
		return ""
	})
	pending := slices.Clone(convs)
	for len(pending) > 0 && ctx.Err() == nil {
		if time.Now().After(deadline) {
			rep.TimedOut = true
			break
		}
		before := st.finished.Load()
		b.pollRound(ctx, rep, &st, pp, pending, deadline)
		pending = slices.DeleteFunc(pending, func(c *created) bool { return c.finished })
		if len(pending) > 0 && st.finished.Load() == before {
			// Nothing finished this round: let the workers get ahead.
			recall.Sleep(ctx, 100*time.Millisecond)
		}
	}
	pp.Finish()
	rep.Unfinished = len(pending)
	if rep.Unfinished > 0 && !rep.TimedOut && ctx.Err() == nil {
		rep.TimedOut = true
	}
	if !st.lastProcessed.IsZero() && st.lastProcessed.After(firstCreated) {
		span := st.lastProcessed.Sub(firstCreated)
		rep.ProcessedSeconds = round2(span.Seconds())
		rep.ProcessedPerSec = round2(float64(rep.Done+rep.Failed) / span.Seconds())
	}
	rep.TimeToProcessedMS = percentiles(st.ttp)
}

// pollRound reads each pending conversation once, with b.c pollers.
func (b *bench) pollRound(ctx context.Context, rep *BenchReport, st *polling, pp *progress, pending []*created, deadline time.Time) {
	work := make(chan *created)
	var pw sync.WaitGroup
	for range b.c {
		pw.Go(func() {
			for c := range work {
				b.pollOne(ctx, rep, st, pp, c)
			}
		})
	}
	for _, c := range pending {
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		work <- c
	}
	close(work)
	pw.Wait()
}

// pollOne reads c once and, if it has finished, records how long it took.
func (b *bench) pollOne(ctx context.Context, rep *BenchReport, st *polling, pp *progress, c *created) {
	status, processedAt, code := b.poll(ctx, c.id)
	if code != "" {
		st.mu.Lock()
		rep.PollErrors[code]++
		st.mu.Unlock()
		st.pollErrorCount.Add(1)
		return
	}
	if status != string(recall.StatusDone) && status != string(recall.StatusFailed) {
		return
	}
	seen := time.Now()
	st.mu.Lock()
	c.finished = true
	if status == string(recall.StatusDone) {
		rep.Done++
	} else {
		rep.Failed++
	}
	if processedAt.IsZero() {
		st.ttp = append(st.ttp, seen.Sub(c.answeredAt))
		processedAt = seen
	} else {
		st.ttp = append(st.ttp, processedAt.Sub(c.createdAt))
	}
	if processedAt.After(st.lastProcessed) {
		st.lastProcessed = processedAt
	}
	st.mu.Unlock()
	pp.Set(st.finished.Add(1))
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// benchContent is a short meeting chat with commitments, requests and
// names, varied per conversation so no cache can answer for the model.
func benchContent(i int) string {
	return fmt.Sprintf("Standup #%d.\nAlice: I will send the budget deck to finance by Friday.\n"+
		"Bob: we need to fix the login bug (ticket %d) before the release.\n"+
		"Carol: please review the onboarding draft and book the retro for Thursday.\n"+
		"Dan: the staging deploy is blocked on the database migration; I'll pair with Bob on it.", i, 4000+i)
}

// create posts conversation i; it returns the conversation, or nil and the
// HTTP status (or "network") that refused it.
func (b *bench) create(ctx context.Context, i int) (*created, string) {
	body, _ := json.Marshal(map[string]string{"title": fmt.Sprintf("bench %d", i), "content": benchContent(i)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/api/conversations", bytes.NewReader(body))
	if err != nil {
		return nil, "request"
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, "network"
	}
	defer resp.Body.Close()
	var v httpapi.Conversation
	if resp.StatusCode != http.StatusCreated {
		io.Copy(io.Discard, resp.Body)
		return nil, strconv.Itoa(resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.ID == "" {
		return nil, "bad body"
	}
	c := &created{id: v.ID, answeredAt: time.Now()}
	c.createdAt, _ = time.Parse(time.RFC3339Nano, v.CreatedAt)
	if c.createdAt.IsZero() {
		c.createdAt = c.answeredAt
	}
	return c, ""
}

// poll reads conversation id and returns its ai_status and processed_at, or
// an error code ("network", an HTTP status).
func (b *bench) poll(ctx context.Context, id string) (string, time.Time, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/api/conversations/"+id, nil)
	if err != nil {
		return "", time.Time{}, "request"
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.client.Do(req)
	if err != nil {
		return "", time.Time{}, "network"
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return "", time.Time{}, strconv.Itoa(resp.StatusCode)
	}
	var v httpapi.Conversation
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", time.Time{}, "bad body"
	}
	var at time.Time
	if v.ProcessedAt != nil {
		at, _ = time.Parse(time.RFC3339Nano, *v.ProcessedAt)
	}
	return v.AIStatus, at, ""
}

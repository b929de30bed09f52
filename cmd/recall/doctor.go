package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"recall/internal/backends"
	"recall/internal/bedrock"
	"recall/internal/boltstore"
	"recall/internal/config"
	"recall/internal/embedded"
	"recall/internal/recall"
)

const doctorUsage = `
Usage: recall doctor [--live] [--data ./.recall] [--timeout 5s]

Checks what the current configuration would use and prints one line per
component, ✅ or ❌, with the fix to try under every ❌:

  config    the environment parses (every bad variable is named)
  store     a write, read and delete of a probe item in the embedded file
            or the DynamoDB table
  queue     Redis answers, its eviction policy keeps jobs (noeviction), and
            the consumer group's depth, in-flight jobs, dead letters and
            consumers; the in-process queue has nothing to check
  analyzer  the local analyzer, or Bedrock's credentials, region and model
            ID; --live makes one tiny model call (a few tokens)
  search    the embedded search index: how many conversations it holds,
            and ❌ when the store changed after the latest it has seen
            (recall serve catches up at start; recall reindex rebuilds it)

Each check has its own --timeout, so doctor answers even when a component
hangs. It exits 1 when any check fails.`

// check is one component's verdict.
type check struct {
	name   string
	ok     bool
	detail string   // what was found
	fix    string   // for a failure: what a person should try
	notes  []string // worth knowing even when ok
}

func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", doctorUsage, stderr)
	live := fs.Bool("live", false, "make one tiny model call to prove model access (costs a few tokens on Bedrock)")
	data := fs.String("data", "", "data directory of the embedded store (default $RECALL_DATA_DIR or ./.recall)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each check may take")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "recall doctor: --timeout must be positive")
		return errUsage
	}
	cfg, err := config.FromEnv(config.Local)
	if *data != "" {
		cfg.Store.DataDir = *data
	}
	if err != nil {
		printChecks(stdout, []check{{name: "config", detail: strings.ReplaceAll(err.Error(), "\n", "; "),
			fix: "correct the variables named above (the README's configuration table lists each one), or unset them for the defaults"}})
		return exitCode(1)
	}
	checks := runDoctor(ctx, cfg, *live, *timeout)
	printChecks(stdout, checks)
	for _, c := range checks {
		if !c.ok {
			return exitCode(1)
		}
	}
	return nil
}

// runDoctor runs the checks concurrently and returns them in a fixed order.
// Each component is opened on its own (backends.OpenStore, OpenQueue,
// OpenAnalyzer), so one broken component neither hides nor blames another.
func runDoctor(ctx context.Context, cfg config.Config, live bool, timeout time.Duration) []check {
	store, queue, ai := cfg.Backends()
	desc := []string{}
	switch store {
	case "embedded":
		desc = append(desc, "embedded store in "+cfg.Store.DataDir)
	default:
		desc = append(desc, "DynamoDB table "+cfg.Store.DynamoTable)
	}
	switch queue {
	case "redis":
		desc = append(desc, "Redis queue at "+config.RedactURL(cfg.Redis.URL))
	default:
		desc = append(desc, "in-process queue")
	}
	switch ai {
	case "bedrock":
		desc = append(desc, "Bedrock analyzer")
	default:
		desc = append(desc, "local analyzer")
	}
	results := []check{{name: "config", ok: true, detail: strings.Join(desc, ", ")}}

	type job struct {
		name string
		fn   func(context.Context) check
		fix  string // when the check does not answer in time
	}
	jobs := []job{
		{"store", func(ctx context.Context) check { return checkStore(ctx, cfg) }, storeTimeoutFix(cfg)},
		{"queue", func(ctx context.Context) check { return checkQueue(ctx, cfg) }, queueTimeoutFix(cfg)},
		{"analyzer", func(ctx context.Context) check { return checkAnalyzer(ctx, cfg, live) }, analyzerTimeoutFix(cfg)},
	}
	out := make([]chan check, len(jobs))
	for i, j := range jobs {
		out[i] = make(chan check, 1)
		go func() { out[i] <- withTimeout(ctx, timeout, j.name, j.fix, j.fn) }()
	}
	for i := range jobs {
		results = append(results, <-out[i])
	}
	// After the store check, which opens the same embedded file.
	return append(results, withTimeout(ctx, timeout, "search", "the index did not answer: another process may hold it (stop recall serve), or it is large; recall reindex rebuilds it", func(ctx context.Context) check {
		return checkSearch(ctx, cfg)
	}))
}

// withTimeout runs fn with a deadline and gives up on it at the deadline
// even if fn ignores its context, so doctor never hangs on a component.
func withTimeout(ctx context.Context, d time.Duration, name, fix string, fn func(context.Context) check) check {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan check, 1)
	go func() { done <- fn(ctx) }()
	select {
	case c := <-done:
		c.name = name
		return c
	case <-ctx.Done():
		return check{name: name, detail: "no answer within " + d.String(), fix: fix}
	}
}

func printChecks(w io.Writer, checks []check) {
	failed := 0
	for _, c := range checks {
		mark := "✅"
		if !c.ok {
			mark = "❌"
			failed++
		}
		fmt.Fprintf(w, "%s %-9s %s\n", mark, c.name, c.detail)
		if !c.ok && c.fix != "" {
			fmt.Fprintf(w, "   %-9s fix: %s\n", "", c.fix)
		}
		for _, n := range c.notes {
			fmt.Fprintf(w, "   %-9s note: %s\n", "", n)
		}
	}
	if failed == 0 {
		fmt.Fprintln(w, "All checks passed.")
	} else {
		fmt.Fprintf(w, "%d of %d checks failed.\n", failed, len(checks))
	}
}

var discardLog = slog.New(slog.DiscardHandler)

// prober is the optional store method doctor prefers to Ping: a write, a
// read and a delete, which prove more than a read.
type prober interface {
	Probe(ctx context.Context) error
}

func checkStore(ctx context.Context, cfg config.Config) check {
	var where string
	if cfg.Store.DynamoTable != "" {
		where = "DynamoDB table " + cfg.Store.DynamoTable
		if ep := dynamoEndpoint(); ep != "" {
			where += " at " + ep
		} else {
			where += " in " + cfg.Region
		}
	} else {
		where = "embedded store " + filepath.Join(cfg.Store.DataDir, embedded.StoreFile)
	}
	// The commonest fault, recall serve holding the embedded file, comes
	// back as boltstore.ErrInUse, which storeFix names with its fix.
	b, err := backends.OpenStore(ctx, cfg, discardLog, embedded.Openers())
	if err != nil {
		return check{detail: where + ": " + err.Error(), fix: storeFix(cfg, err)}
	}
	defer b.Close()
	start := time.Now()
	what := "write/read/delete probe"
	if p, ok := b.Store.(prober); ok {
		err = p.Probe(ctx)
	} else {
		what = "ping"
		err = b.Store.Ping(ctx)
	}
	if err != nil {
		return check{detail: where + ": " + err.Error(), fix: storeFix(cfg, err)}
	}
	return check{ok: true, detail: fmt.Sprintf("%s: %s ok in %s", where, what, time.Since(start).Round(time.Millisecond))}
}

func dynamoEndpoint() string {
	for _, k := range []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// storeFix is what to try when the store check failed. The DynamoDB store
// turns the SDK's errors into domain codes whose message names the fix;
// doctor reads the code, never the text.
func storeFix(cfg config.Config, err error) string {
	if cfg.Store.DynamoTable == "" {
		if errors.Is(err, boltstore.ErrInUse) {
			return "another recall process (recall serve?) holds " + cfg.Store.DataDir + ": stop recall serve or point --data elsewhere"
		}
		return "check that " + cfg.Store.DataDir + " is a writable directory on a local disk (RECALL_DATA_DIR or --data)"
	}
	switch recall.ErrorCode(err) {
	case recall.ENOTFOUND, recall.EUNAUTHORIZED, recall.EPERMISSION, recall.EUNAVAILABLE, recall.ETHROTTLED:
		return recall.ErrorMessage(err)
	}
	return "check DYNAMODB_TABLE (" + cfg.Store.DynamoTable + "), AWS_REGION (" + cfg.Region + ") and the credentials"
}

func storeTimeoutFix(cfg config.Config) string {
	if cfg.Store.DynamoTable == "" {
		return "the embedded file did not answer: another process may hold it (stop recall serve or point --data elsewhere), or the disk is hung"
	}
	if ep := dynamoEndpoint(); ep != "" {
		return "the endpoint " + ep + " accepts connections but does not answer: restart it (docker compose restart localstack)"
	}
	return "DynamoDB did not answer: check the network path to DynamoDB in " + cfg.Region
}

// evictionPolicy is redisq.Queue's optional check, asserted so doctor works
// with any queue.
type evictionPolicy interface {
	EvictionPolicy(ctx context.Context) (string, error)
}

func checkQueue(ctx context.Context, cfg config.Config) check {
	if cfg.Redis.URL == "" {
		return check{ok: true, detail: "in-process queue: it lives inside recall serve (its depth is on serve's /metrics); nothing to check"}
	}
	where := "Redis " + config.RedactURL(cfg.Redis.URL)
	b, err := backends.OpenQueue(ctx, cfg, discardLog)
	if err != nil {
		return check{detail: where + ": " + err.Error(), fix: queueFix(cfg, err)}
	}
	defer b.Close()
	start := time.Now()
	if err := b.Queue.Ping(ctx); err != nil {
		return check{detail: where + ": " + err.Error(), fix: queueFix(cfg, err)}
	}
	ping := time.Since(start).Round(time.Millisecond)
	c := check{ok: true}
	if ep, ok := b.Queue.(evictionPolicy); ok {
		switch policy, err := ep.EvictionPolicy(ctx); {
		case err != nil:
			c.notes = append(c.notes, "eviction policy unknown (CONFIG is disabled, as on ElastiCache): make sure the parameter group sets maxmemory-policy noeviction")
		case policy != "noeviction":
			c.ok = false
			c.fix = "maxmemory-policy is " + policy + ", so a full Redis may silently drop queued jobs: run redis-cli CONFIG SET maxmemory-policy noeviction, and set it in redis.conf or the parameter group so it survives a restart"
		}
	}
	st, err := b.Queue.Stats(ctx)
	if err != nil {
		return check{detail: where + ": answers ping but not stats: " + err.Error(), fix: queueFix(cfg, err)}
	}
	c.detail = fmt.Sprintf("%s: ping %s; waiting high/default/low %d/%d/%d, oldest %s, in flight %d, retrying %d, dead %d, %s",
		where, ping, st.Depth[recall.PriorityHigh], st.Depth[recall.PriorityDefault], st.Depth[recall.PriorityLow],
		st.OldestAge.Round(time.Second), st.InFlight, st.Scheduled, st.Dead, consumers(st.Consumers))
	if !c.ok {
		c.detail += "; eviction policy is not noeviction"
	}
	for _, w := range st.Warnings {
		if !strings.Contains(w, "maxmemory-policy") {
			c.notes = append(c.notes, w)
		}
	}
	if st.Dead > 0 {
		c.notes = append(c.notes, fmt.Sprintf("%d dead letters: conversations that failed for good; see why with GET on them (ai_error), re-run with recall reprocess --status failed", st.Dead))
	}
	return c
}

func consumers(cs []recall.ConsumerStats) string {
	if len(cs) == 0 {
		return "no consumers yet (no worker has read from this queue)"
	}
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s (pending %d, idle %s)", c.Name, c.Pending, c.Idle.Round(time.Second)))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d consumers: %s", len(cs), strings.Join(parts, ", "))
}

// queueFix is what to try when the queue check failed. The Redis queue
// turns refused credentials (EUNAUTHORIZED) and a TLS or cluster-mode
// mismatch (EINVALID) into domain errors whose message names the fix, as
// config does for a REDIS_URL it cannot use; anything else means nothing
// usable answers at the address.
func queueFix(cfg config.Config, err error) string {
	switch recall.ErrorCode(err) {
	case recall.EUNAUTHORIZED, recall.EINVALID:
		return recall.ErrorMessage(err)
	}
	return "nothing usable answers at " + config.RedactURL(cfg.Redis.URL) + ": start it with docker compose up -d redis, or point REDIS_URL at a running Redis"
}

func queueTimeoutFix(cfg config.Config) string {
	return "Redis at " + config.RedactURL(cfg.Redis.URL) + " accepts connections but does not answer: check it is Redis (not another service) and not stuck (redis-cli -u URL PING), and whether TLS needs rediss://"
}

func checkAnalyzer(ctx context.Context, cfg config.Config, live bool) check {
	if cfg.Analyzer.Kind != "bedrock" {
		analyzer, err := backends.OpenAnalyzer(ctx, cfg, discardLog)
		if err != nil {
			return check{detail: "local analyzer: " + err.Error(), fix: "report this: the local analyzer has nothing to configure"}
		}
		detail := "local extractive analyzer: no model, no network"
		if cfg.Analyzer.Latency > 0 {
			detail += fmt.Sprintf(", %s added to each analysis (RECALL_ANALYZER_LATENCY)", cfg.Analyzer.Latency)
		}
		if !live {
			return check{ok: true, detail: detail}
		}
		return liveCall(ctx, analyzer, check{ok: true, detail: detail}, "")
	}
	where := fmt.Sprintf("Bedrock model %s in %s", cfg.Bedrock.Model, cfg.Region)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return check{detail: where + ": " + err.Error(), fix: "fix the AWS configuration the error names (AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)"}
	}
	creds, err := awsCfg.Credentials.Retrieve(ctx)
	if err != nil {
		return check{detail: where + ": no AWS credentials: " + err.Error(),
			fix: "set AWS_PROFILE (after aws sso login), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with a role that may call bedrock:InvokeModel"}
	}
	detail := fmt.Sprintf("%s, credentials from %s", where, creds.Source)
	if ep := os.Getenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"); ep != "" {
		detail += ", endpoint " + ep
	}
	analyzer, err := backends.OpenAnalyzer(ctx, cfg, discardLog)
	if err != nil {
		return check{detail: where + ": " + err.Error(), fix: "fix the setting the error names (BEDROCK_* variables, AWS_REGION)"}
	}
	if !live {
		return check{ok: true, detail: detail + " (no model call made; --live makes one tiny call)"}
	}
	return liveCall(ctx, analyzer, check{ok: true, detail: detail}, cfg.Bedrock.Model)
}

// liveCall runs one tiny analysis and adds what it cost to c.
func liveCall(ctx context.Context, a recall.Analyzer, c check, model string) check {
	start := time.Now()
	an, err := a.Analyze(ctx, recall.AnalysisInput{
		ConversationID: "doctor", PostType: recall.DefaultPostType,
		Content: "Ana: I will send the report on Friday. Ben: thanks.",
	})
	took := time.Since(start).Round(time.Millisecond)
	switch code := recall.ErrorCode(err); {
	case err == nil:
		c.detail += fmt.Sprintf("; live call ok in %s (%s, %d in / %d out tokens)", took, an.Model, an.Usage.InputTokens, an.Usage.OutputTokens)
		return c
	case errors.Is(err, bedrock.ErrModelAccessPending):
		// Not a quota: the account has not finished enabling the model (the
		// first call's Marketplace subscription, or Anthropic's use case
		// form). Analyses wait for it by themselves; the fix says what ends it.
		c.ok = false
		c.detail += "; live call refused: the account has not finished enabling " + model
		c.fix = recall.ErrorMessage(err)
		return c
	case code == recall.ETHROTTLED:
		c.detail += "; live call throttled: access works but the quota is busy"
		c.notes = append(c.notes, "the model throttled a single call: other traffic is using the account's quota, or the quota is very low (Service Quotas, Bedrock)")
		return c
	default:
		c.ok = false
		c.detail += "; live call failed: " + recall.ErrorMessage(err)
		switch code {
		case recall.EPERMISSION, recall.EUNAUTHORIZED:
			c.fix = recall.ErrorMessage(err)
		case recall.EINVALID:
			c.fix = recall.ErrorMessage(err) + " (check BEDROCK_MODEL_ID)"
		default:
			c.fix = "retry in a minute; if it persists, check the network path to Bedrock and the AWS Health dashboard"
		}
		return c
	}
}

func analyzerTimeoutFix(cfg config.Config) string {
	if cfg.Analyzer.Kind != "bedrock" {
		return "the local analyzer did not finish: lower RECALL_ANALYZER_LATENCY or raise --timeout"
	}
	return "Bedrock did not answer in time: raise --timeout (a first call can take seconds), check the network path to bedrock-runtime." + cfg.Region + ".amazonaws.com, or that the credential source (SSO, IMDS) answers"
}

// checkSearch reports the search index: on the embedded store, how many
// conversations it holds and how many the store changed after its
// watermark (behind: a failure, with the fix); on DynamoDB, that no index
// is configured. It runs after the store check, since both open the
// embedded file and one process at a time may.
func checkSearch(ctx context.Context, cfg config.Config) check {
	if cfg.Store.DynamoTable != "" {
		return check{ok: true, detail: "no search index is configured for DynamoDB: GET /api/search answers 501 not_implemented and health shows search not_configured"}
	}
	where := "embedded index " + filepath.Join(cfg.Store.DataDir, embedded.IndexDir)
	b, err := openForIndex(ctx, cfg)
	if err != nil {
		fix := "check that " + cfg.Store.DataDir + " is a writable directory on a local disk; recall reindex rebuilds a damaged index"
		if errors.Is(err, boltstore.ErrInUse) {
			fix = "another recall process (recall serve?) holds " + cfg.Store.DataDir + ": stop recall serve or point --data elsewhere"
		}
		return check{detail: where + ": " + err.Error(), fix: fix}
	}
	defer b.Close()
	n, err := b.Fulltext.Count()
	if err != nil {
		return check{detail: where + ": " + err.Error(), fix: "recall reindex rebuilds the index from the store"}
	}
	behind, err := b.IndexBehind(ctx)
	if err != nil {
		return check{detail: where + ": comparing with the store: " + err.Error(), fix: storeFix(cfg, err)}
	}
	if behind > 0 {
		return check{detail: fmt.Sprintf("%s holds %d conversations and is behind the store: %d changed after the latest it has seen",
			where, n, behind), fix: "start recall serve, which catches the index up at start, or run recall reindex to rebuild it"}
	}
	return check{ok: true, detail: fmt.Sprintf("%s: %d conversations, up to date with the store", where, n)}
}

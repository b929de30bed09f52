// Package config reads Recall's configuration from the environment and builds
// the backends it names. It is the only package that knows every backend, so
// the Lambda functions and the local runner wire the same way.
package config

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode says who is running: the local runner or a Lambda function. The two
// differ only in defaults (data directory, log format).
type Mode int

// The modes.
const (
	Local Mode = iota
	Lambda
)

// Config is everything Recall reads from its environment. Field comments name
// the variable; the README's configuration table lists them too.
type Config struct {
	Mode Mode

	DataDir   string // RECALL_DATA_DIR: embedded store and local secret (./.recall; /tmp/recall in Lambda)
	JWTSecret string // RECALL_JWT_SECRET: HS256 secret for the local runner (generated in DataDir if unset)
	CursorKey string // RECALL_CURSOR_KEY: signs list cursors (derived from the secret if unset)

	RedisURL     string // REDIS_URL: redis:// or rediss:// selects the Redis queue
	RedisCluster bool   // RECALL_REDIS_CLUSTER: use the cluster client (ElastiCache Serverless)
	Consumer     string // RECALL_CONSUMER: this worker's name in the Redis consumer group

	ProcessFunction string // RECALL_PROCESS_FUNCTION: Lambda function create nudges after enqueueing

	DynamoTable string // DYNAMODB_TABLE: selects the DynamoDB store
	CreateTable bool   // RECALL_CREATE_TABLE: create the table when missing (local use)

	AI              string        // RECALL_AI: local (default) or bedrock
	BedrockModel    string        // BEDROCK_MODEL_ID
	Region          string        // AWS_REGION (us-east-1)
	AnalyzerLatency time.Duration // RECALL_ANALYZER_LATENCY: added to each local analysis, for load tests

	BedrockMaxTokens   int           // BEDROCK_MAX_TOKENS: bound on each reply (the analyzer's default)
	BedrockInputBudget int           // BEDROCK_INPUT_BUDGET_TOKENS: content per call before splitting
	BedrockRPM         int           // BEDROCK_RPM: requests-per-minute quota to pace under (0: learn from throttling)
	BedrockTPM         int           // BEDROCK_TPM: tokens-per-minute quota to pace under
	BedrockCacheTTL    time.Duration // BEDROCK_CACHE_TTL: how long an identical conversation reuses an analysis

	MaxAttempts    int           // RECALL_MAX_ATTEMPTS (5)
	RetryBase      time.Duration // RECALL_RETRY_BASE (2s)
	RetryMax       time.Duration // RECALL_RETRY_MAX (5m)
	AnalyzeTimeout time.Duration // RECALL_ANALYZE_TIMEOUT (90s; 30s for the local analyzer)
	Visibility     time.Duration // RECALL_VISIBILITY_TIMEOUT (AnalyzeTimeout + 30s)
	StaleAfter     time.Duration // RECALL_STALE_AFTER (15s)
	SweepEvery     time.Duration // RECALL_SWEEP_EVERY (5s)
	Concurrency    int           // RECALL_CONCURRENCY (8)

	LogFormat string // RECALL_LOG_FORMAT: auto, json or text
	LogLevel  string // RECALL_LOG_LEVEL: debug, info, warn, error
}

// FromEnv reads the configuration from the process environment.
func FromEnv(mode Mode) (Config, error) { return FromLookup(mode, os.LookupEnv) }

// FromLookup reads the configuration through lookup, so tests need not touch
// the process environment. Every parse error names the variable.
func FromLookup(mode Mode, lookup func(string) (string, bool)) (Config, error) {
	get := func(k, def string) string {
		if v, ok := lookup(k); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	var errs []error
	dur := func(k string, def time.Duration) time.Duration {
		v := get(k, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a duration such as 500ms or 30s", k, v))
			return def
		}
		return d
	}
	num := func(k string, def int) int {
		v := get(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive whole number", k, v))
			return def
		}
		return n
	}
	flag := func(k string) bool {
		v := strings.ToLower(get(k, ""))
		switch v {
		case "", "0", "false", "no", "off":
			return false
		case "1", "true", "yes", "on":
			return true
		}
		errs = append(errs, fmt.Errorf("%s=%q: want true or false", k, v))
		return false
	}

	dataDir := "./.recall"
	if mode == Lambda {
		dataDir = "/tmp/recall"
	}
	c := Config{
		Mode:            mode,
		DataDir:         get("RECALL_DATA_DIR", dataDir),
		JWTSecret:       get("RECALL_JWT_SECRET", ""),
		CursorKey:       get("RECALL_CURSOR_KEY", ""),
		RedisURL:        get("REDIS_URL", ""),
		RedisCluster:    flag("RECALL_REDIS_CLUSTER"),
		Consumer:        get("RECALL_CONSUMER", ""),
		DynamoTable:     get("DYNAMODB_TABLE", ""),
		ProcessFunction: get("RECALL_PROCESS_FUNCTION", ""),
		CreateTable:     flag("RECALL_CREATE_TABLE"),
		AI:              strings.ToLower(get("RECALL_AI", "local")),
		BedrockModel:    get("BEDROCK_MODEL_ID", DefaultBedrockModel),
		Region:          get("AWS_REGION", get("AWS_DEFAULT_REGION", "us-east-1")),
		AnalyzerLatency: dur("RECALL_ANALYZER_LATENCY", 0),
		BedrockCacheTTL: dur("BEDROCK_CACHE_TTL", 0),
		MaxAttempts:     num("RECALL_MAX_ATTEMPTS", 5),
		RetryBase:       dur("RECALL_RETRY_BASE", 2*time.Second),
		RetryMax:        dur("RECALL_RETRY_MAX", 5*time.Minute),
		StaleAfter:      dur("RECALL_STALE_AFTER", 15*time.Second),
		SweepEvery:      dur("RECALL_SWEEP_EVERY", 5*time.Second),
		Concurrency:     num("RECALL_CONCURRENCY", 8),
		LogFormat:       strings.ToLower(get("RECALL_LOG_FORMAT", "auto")),
		LogLevel:        strings.ToLower(get("RECALL_LOG_LEVEL", "info")),
	}
	optNum := func(k string) int {
		if get(k, "") == "" {
			return 0
		}
		return num(k, 0)
	}
	c.BedrockMaxTokens = optNum("BEDROCK_MAX_TOKENS")
	c.BedrockInputBudget = optNum("BEDROCK_INPUT_BUDGET_TOKENS")
	c.BedrockRPM = optNum("BEDROCK_RPM")
	c.BedrockTPM = optNum("BEDROCK_TPM")
	defTimeout := 90 * time.Second
	if c.AI == "local" {
		defTimeout = 30*time.Second + c.AnalyzerLatency
	}
	c.AnalyzeTimeout = dur("RECALL_ANALYZE_TIMEOUT", defTimeout)
	c.Visibility = dur("RECALL_VISIBILITY_TIMEOUT", c.AnalyzeTimeout+30*time.Second)

	switch c.AI {
	case "local", "bedrock":
	default:
		errs = append(errs, fmt.Errorf("RECALL_AI=%q: want local or bedrock", c.AI))
	}
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("RECALL_LOG_FORMAT=%q: want auto, json or text", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("RECALL_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			errs = append(errs, fmt.Errorf("REDIS_URL: want redis://[user:password@]host:port[/db] or rediss://… for TLS"))
		}
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		errs = append(errs, fmt.Errorf("RECALL_JWT_SECRET is %d bytes; use at least 32 (e.g. openssl rand -hex 32), or unset it to have one generated", len(c.JWTSecret)))
	}
	if c.Visibility <= c.AnalyzeTimeout {
		errs = append(errs, fmt.Errorf("RECALL_VISIBILITY_TIMEOUT (%s) must be longer than RECALL_ANALYZE_TIMEOUT (%s), or slow analyses would be delivered twice", c.Visibility, c.AnalyzeTimeout))
	}
	return c, errors.Join(errs...)
}

// ConsumerName is this process's name in the Redis consumer group. A
// restarted `recall serve` must come back under the same name so it takes
// its unacknowledged jobs back at once instead of waiting out the visibility
// timeout, and two live processes must never share one: locally the name is
// the host plus the data directory (which only one runner can hold open);
// in Lambda every container gets a fresh random name, since a container
// never restarts and its jobs are reclaimed after the visibility timeout.
func (c Config) ConsumerName() string {
	if c.Consumer != "" {
		return c.Consumer
	}
	if c.Mode == Lambda {
		b := make([]byte, 6)
		rand.Read(b)
		return "lambda-" + hex.EncodeToString(b)
	}
	host, _ := os.Hostname()
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		dir = c.DataDir
	}
	sum := sha256.Sum256([]byte(dir))
	return fmt.Sprintf("%s-serve-%x", host, sum[:4])
}

// DefaultBedrockModel is Claude Haiku 4.5 through its US cross-region
// inference profile; the bare model ID is refused for on-demand calls.
const DefaultBedrockModel = "us.anthropic.claude-haiku-4-5-20251001-v1:0"

// Backends names the backends the configuration selects, for logs and doctor.
func (c Config) Backends() (store, queue, ai string) {
	store, queue, ai = "embedded", "memory", c.AI
	if c.DynamoTable != "" {
		store = "dynamodb"
	}
	if c.RedisURL != "" {
		queue = "redis"
	}
	return store, queue, ai
}

// LogAttrs returns the resolved configuration as log attributes, with every
// secret left out and the Redis password masked.
func (c Config) LogAttrs() []any {
	store, queue, ai := c.Backends()
	attrs := []any{"store", store, "queue", queue, "ai", ai}
	if store == "embedded" {
		attrs = append(attrs, "data_dir", c.DataDir)
	} else {
		attrs = append(attrs, "dynamodb_table", c.DynamoTable, "create_table", c.CreateTable)
	}
	if queue == "redis" {
		attrs = append(attrs, "redis_url", RedactURL(c.RedisURL), "redis_cluster", c.RedisCluster)
	}
	if ai == "bedrock" {
		attrs = append(attrs, "bedrock_model_id", c.BedrockModel, "aws_region", c.Region)
	}
	if c.AnalyzerLatency > 0 {
		attrs = append(attrs, "analyzer_latency", c.AnalyzerLatency.String())
	}
	if c.ProcessFunction != "" {
		attrs = append(attrs, "process_function", c.ProcessFunction)
	}
	return append(attrs,
		"jwt_secret", secretSource(c.JWTSecret, "RECALL_JWT_SECRET"),
		"max_attempts", c.MaxAttempts, "retry_base", c.RetryBase.String(),
		"analyze_timeout", c.AnalyzeTimeout.String(), "visibility_timeout", c.Visibility.String(),
		"stale_after", c.StaleAfter.String(), "sweep_every", c.SweepEvery.String(),
		"concurrency", c.Concurrency)
}

func secretSource(v, name string) string {
	if v != "" {
		return "set from " + name
	}
	return "generated in the data dir"
}

// RedactURL masks the password in a URL so it can be logged.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

// Secret returns the HS256 secret for local tokens: RECALL_JWT_SECRET, or one
// generated once and kept in DataDir/secret (mode 0600) so `recall token` and
// `recall serve` agree across restarts.
func (c Config) Secret() ([]byte, error) {
	if c.JWTSecret != "" {
		return []byte(c.JWTSecret), nil
	}
	path := filepath.Join(c.DataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, fmt.Errorf("config: %s is too short to be a secret; delete it to make a new one", path)
		}
		return []byte(s), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config: read secret: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("config: create data dir: %w", err)
	}
	buf := make([]byte, 32)
	rand.Read(buf)
	s := hex.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.Secret() // another process made it first
	}
	if err != nil {
		return nil, fmt.Errorf("config: write secret: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(s + "\n"); err != nil {
		return nil, fmt.Errorf("config: write secret: %w", err)
	}
	return []byte(s), f.Sync()
}

// cursorKey returns the key that signs list cursors: RECALL_CURSOR_KEY, else
// one derived from the local secret. Lambda functions cannot share a
// generated secret (each has its own /tmp), so there a missing key falls back
// to one derived from the table name, which still binds cursors to owners
// but can be forged by someone who knows the name; the template sets it.
func (c Config) cursorKey() ([]byte, error) {
	if c.CursorKey != "" {
		return []byte(c.CursorKey), nil
	}
	if c.Mode == Lambda {
		return []byte("recall-cursor:" + c.DynamoTable), nil
	}
	secret, err := c.Secret()
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("recall list cursor"))
	return m.Sum(nil), nil
}

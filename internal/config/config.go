// Package config reads Recall's configuration from the environment, grouped
// by concern (store, Redis, analyzer, Bedrock, worker, search, limits, log,
// auth, web), and checks it, reporting every mistake at once. It reads and
// opens nothing else: package backends opens what the configuration
// selects, so a function that only reads it (the web function) links no
// backend.
package config

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// Mode says who is running: the local runner or a Lambda function. The two
// differ in defaults (data directory, consumer name) and in what they demand
// (a Lambda function that opens the store needs RECALL_CURSOR_KEY, and,
// having no embedded store, DYNAMODB_TABLE).
type Mode int

// The modes.
const (
	Local Mode = iota
	Lambda
)

// Config is everything Recall reads from its environment, grouped by the
// part it configures. Field comments name the variable; the README's
// configuration table lists them too.
type Config struct {
	Mode Mode
	// Region is AWS_REGION (else AWS_DEFAULT_REGION, else us-east-1): the
	// region of DynamoDB, Bedrock and Lambda alike.
	Region string

	Store    Store
	Redis    Redis
	Analyzer Analyzer
	Bedrock  Bedrock
	Worker   Worker
	Log      Log
	Auth     Auth
	Web      Web
	Metrics  Metrics
	Limits   Limits
	Search   Search
}

// Store selects and sets up the conversation store.
type Store struct {
	DataDir     string // RECALL_DATA_DIR: the local runner's embedded store, search index and secret (./.recall; none in Lambda)
	DynamoTable string // DYNAMODB_TABLE: selects the DynamoDB store
	CreateTable bool   // RECALL_CREATE_TABLE: create the table when missing (local use)
}

// Redis selects the Redis queue and names this process in it.
type Redis struct {
	URL      string // REDIS_URL: redis:// or rediss:// selects the Redis queue
	Cluster  bool   // RECALL_REDIS_CLUSTER: use the cluster client (ElastiCache Serverless)
	Consumer string // RECALL_CONSUMER: the name this worker asks for in the Redis consumer group
}

// Analyzer selects the analyzer.
type Analyzer struct {
	Kind    string        // RECALL_AI: local (default) or bedrock
	Latency time.Duration // RECALL_ANALYZER_LATENCY: added to each local analysis, for load tests
	// Dates says how both analyzers read due dates: Location
	// (RECALL_TIMEZONE, an IANA name; UTC by default) is where the day a
	// conversation was created on begins and ends, so "tomorrow" or "by
	// Friday" is the writer's, and Order (RECALL_DATE_ORDER: dmy or mdy;
	// unset leaves "12/03" without a date, since it could be either).
	Dates duedate.Options
}

// The models Recall uses when BEDROCK_MODEL_ID and RECALL_EMBED_MODEL are
// unset: package bedrock's DefaultModelID and EmbedModelID, written here
// again because importing bedrock for two strings would link the Bedrock
// client into every function that reads its configuration, the web
// function included. Package backends, which imports both, tests that
// they agree.
const (
	DefaultBedrockModel = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	DefaultEmbedModel   = "amazon.titan-embed-text-v2:0"
)

// Bedrock tunes the Bedrock analyzer (RECALL_AI=bedrock). A zero number
// leaves the analyzer's own default.
type Bedrock struct {
	Model       string        // BEDROCK_MODEL_ID (DefaultBedrockModel)
	MaxTokens   int           // BEDROCK_MAX_TOKENS: bound on each reply
	InputBudget int           // BEDROCK_INPUT_BUDGET_TOKENS: content per call before splitting
	RPM         int           // BEDROCK_RPM: requests-per-minute quota to pace under (0: no pacing; throttles are retried)
	TPM         int           // BEDROCK_TPM: tokens-per-minute quota to pace under
	CacheTTL    time.Duration // BEDROCK_CACHE_TTL: how long an identical conversation reuses an analysis
}

// Search configures search on AWS: semantic search over Amazon S3 Vectors
// with Titan Text Embeddings V2, beside exact keywords kept in the
// DynamoDB table. It needs the DynamoDB store; without VectorBucket the
// process searches with the embedded full-text index instead.
type Search struct {
	VectorBucket string // RECALL_VECTOR_BUCKET: the S3 Vectors vector bucket; selects search on AWS
	VectorIndex  string // RECALL_VECTOR_INDEX: the vector index in it (512 dimensions, cosine)
	// EmbedModel is RECALL_EMBED_MODEL (DefaultEmbedModel): a model
	// that speaks Titan Text Embeddings V2's request format.
	EmbedModel string
}

// Worker is the retry policy, the timeouts and the pace of processing.
type Worker struct {
	MaxAttempts int // RECALL_MAX_ATTEMPTS (5)
	// MaxThrottleRetries is RECALL_MAX_THROTTLE_RETRIES (30): throttled
	// tries a run gets without spending an attempt.
	MaxThrottleRetries int
	RetryBase          time.Duration // RECALL_RETRY_BASE (2s)
	RetryMax           time.Duration // RECALL_RETRY_MAX (5m)
	AnalyzeTimeout     time.Duration // RECALL_ANALYZE_TIMEOUT (90s; 30s for the local analyzer)
	Visibility         time.Duration // RECALL_VISIBILITY_TIMEOUT (AnalyzeTimeout + 30s)
	StaleAfter         time.Duration // RECALL_STALE_AFTER (15s)
	SweepEvery         time.Duration // RECALL_SWEEP_EVERY (5s)
	Concurrency        int           // RECALL_CONCURRENCY (8)
	// FairShare is RECALL_FAIR_SHARE (recall.DefaultFairShare): how many
	// outstanding jobs one owner has before the rest of theirs wait behind
	// everyone else's. It takes effect where jobs are enqueued and retried.
	FairShare int
	// ProcessFunction is RECALL_PROCESS_FUNCTION: the Lambda function the
	// create function nudges after each enqueue.
	ProcessFunction string
}

// Log is how the process logs. The local runner reads both fields; a Lambda
// function takes its format from Lambda's own setting (AWS_LAMBDA_LOG_FORMAT)
// and only the level from here.
type Log struct {
	Format string     // RECALL_LOG_FORMAT: auto (text on a terminal, JSON elsewhere), json or text
	Level  slog.Level // RECALL_LOG_LEVEL: debug, info (default), warn or error
}

// Auth holds the keys: the local runner's token secret and the key that
// signs list cursors.
type Auth struct {
	JWTSecret string // RECALL_JWT_SECRET: HS256 secret for the local runner (generated in the data dir if unset)
	CursorKey string // RECALL_CURSOR_KEY: signs list cursors (required in Lambda; derived from the local secret otherwise)
}

// Web is how the web app signs people in on AWS: OpenID Connect's
// authorization code flow with PKCE against Issuer, as ClientID. The web
// function reads it (template.yaml fills it from the Cognito user pool or
// the deployer's own provider); the local runner signs in with links and
// ignores it. Only presence is checked here: package web checks the URLs
// when it builds the page, so the rule lives once.
type Web struct {
	Issuer   string   // RECALL_OIDC_ISSUER: the issuer; the page reads <issuer>/.well-known/openid-configuration
	ClientID string   // RECALL_OIDC_CLIENT_ID: the public app client the page signs in as
	Scopes   []string // RECALL_OIDC_SCOPES: requested scopes, space- or comma-separated (openid)
	// TokenEndpoint is RECALL_OIDC_TOKEN_ENDPOINT: the provider's token
	// endpoint when its origin is not the issuer's (Cognito's is the user
	// pool's hosted domain). The page's Content-Security-Policy is sent
	// before the page can read the discovery document, so the origin it
	// may post the code to must be known here.
	TokenEndpoint string
	TokenUse      string // RECALL_OIDC_TOKEN_USE: the token the page sends as Bearer, access (default) or id
}

// DefaultMetricsAddr is where the local runner serves /metrics unless
// RECALL_METRICS_ADDR says otherwise: loopback, so only this host can
// scrape it, and not 9090, where Prometheus itself listens.
const DefaultMetricsAddr = "127.0.0.1:9464"

// Metrics is where the local runner serves Prometheus metrics: a listener
// of its own, so scrapers need no token and the API's public listener
// does not show them to everyone.
type Metrics struct {
	// Addr is RECALL_METRICS_ADDR (DefaultMetricsAddr); empty when it is
	// set to "off" or to nothing, which serves no metrics.
	Addr string
	// Optional is true when Addr is the default rather than chosen: a
	// runner that cannot listen there (another runner on this host has
	// it) runs without metrics and says so, where an address set on
	// purpose that cannot be used stops it from starting.
	Optional bool
}

// Limits bound what one owner may ask of Recall, so that one user can
// neither take every worker nor run up the model bill. Each is per owner
// (the token's sub), shared by every process through Redis when REDIS_URL
// is set and kept in the process otherwise. The defaults are far above
// what a person or an ordinary integration does; 0 turns a limit off.
type Limits struct {
	// OwnerRPS is RECALL_OWNER_RPS: creates and reprocesses per second,
	// sustained (10).
	OwnerRPS float64
	// OwnerBurst is RECALL_OWNER_BURST: how many may come at once before
	// the rate applies (100).
	OwnerBurst int
	// OwnerTokensPerDay is RECALL_OWNER_TOKENS_PER_DAY: model tokens
	// (input plus output) an owner's analyses may spend in a UTC day
	// before creates and reprocesses are refused until midnight UTC
	// (5,000,000).
	OwnerTokensPerDay int
}

// FromEnv reads the configuration from the process environment.
func FromEnv(mode Mode) (Config, error) { return FromLookup(mode, os.LookupEnv) }

// FromLookup reads the configuration through lookup, so tests need not touch
// the process environment. Every parse error names the variable, and all of
// them are reported at once.
func FromLookup(mode Mode, lookup func(string) (string, bool)) (Config, error) {
	e := &env{lookup: lookup}
	c := Config{
		Mode:     mode,
		Region:   e.get("AWS_REGION", e.get("AWS_DEFAULT_REGION", "us-east-1")),
		Store:    readStore(e, mode),
		Redis:    readRedis(e),
		Analyzer: readAnalyzer(e),
		Bedrock:  readBedrock(e),
		Log:      readLog(e),
		Auth:     readAuth(e),
		Web:      readWeb(e),
		Metrics:  readMetrics(e),
		Limits:   readLimits(e),
	}
	c.Search = readSearch(e, c.Store)
	c.Worker = readWorker(e, c.Analyzer)
	return c, errors.Join(e.errs...)
}

// readStore reads the store's settings. A Lambda function has no data
// directory: it keeps conversations in DynamoDB, and package backends
// refuses to start one without DYNAMODB_TABLE.
func readStore(e *env, mode Mode) Store {
	dataDir := "./.recall"
	if mode == Lambda {
		dataDir = ""
	}
	return Store{
		DataDir:     e.get("RECALL_DATA_DIR", dataDir),
		DynamoTable: e.get("DYNAMODB_TABLE", ""),
		CreateTable: e.flag("RECALL_CREATE_TABLE"),
	}
}

// readSearch reads search on AWS. The bucket and the index go together,
// and both need the DynamoDB store, which holds the keyword half.
func readSearch(e *env, st Store) Search {
	s := Search{
		VectorBucket: e.get("RECALL_VECTOR_BUCKET", ""),
		VectorIndex:  e.get("RECALL_VECTOR_INDEX", ""),
		EmbedModel:   e.get("RECALL_EMBED_MODEL", DefaultEmbedModel),
	}
	switch {
	case s.VectorBucket == "" && s.VectorIndex != "":
		e.fail("RECALL_VECTOR_INDEX is set but RECALL_VECTOR_BUCKET is not: search on AWS needs the vector bucket that holds the index")
	case s.VectorBucket != "" && s.VectorIndex == "":
		e.fail("RECALL_VECTOR_BUCKET is set but RECALL_VECTOR_INDEX is not: name the vector index in it (the stack's VectorIndexName output)")
	case s.VectorBucket != "" && st.DynamoTable == "":
		e.fail("RECALL_VECTOR_BUCKET is set but DYNAMODB_TABLE is not: search on AWS keeps its keywords in the DynamoDB table; unset RECALL_VECTOR_BUCKET to search with the embedded index")
	}
	return s
}

func readRedis(e *env) Redis {
	r := Redis{
		URL:      e.get("REDIS_URL", ""),
		Cluster:  e.flag("RECALL_REDIS_CLUSTER"),
		Consumer: e.get("RECALL_CONSUMER", ""),
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			e.fail("REDIS_URL: want redis://[user:password@]host:port[/db] or rediss://… for TLS")
		}
	}
	return r
}

func readAnalyzer(e *env) Analyzer {
	return Analyzer{
		Kind:    e.choice("RECALL_AI", "local", "local", "bedrock"),
		Latency: e.dur("RECALL_ANALYZER_LATENCY", 0),
		Dates:   duedate.Options{Location: e.location("RECALL_TIMEZONE"), Order: e.dateOrder("RECALL_DATE_ORDER")},
	}
}

func readBedrock(e *env) Bedrock {
	return Bedrock{
		Model:       e.get("BEDROCK_MODEL_ID", DefaultBedrockModel),
		MaxTokens:   e.optNum("BEDROCK_MAX_TOKENS"),
		InputBudget: e.optNum("BEDROCK_INPUT_BUDGET_TOKENS"),
		RPM:         e.optNum("BEDROCK_RPM"),
		TPM:         e.optNum("BEDROCK_TPM"),
		CacheTTL:    e.dur("BEDROCK_CACHE_TTL", 0),
	}
}

// readWorker reads the worker's settings; the analysis timeout's default
// depends on the analyzer, since the local one answers in milliseconds plus
// whatever latency it is told to add.
func readWorker(e *env, a Analyzer) Worker {
	defTimeout := 90 * time.Second
	if a.Kind == "local" {
		defTimeout = 30*time.Second + a.Latency
	}
	w := Worker{
		MaxAttempts:        e.num("RECALL_MAX_ATTEMPTS", 5),
		MaxThrottleRetries: e.num("RECALL_MAX_THROTTLE_RETRIES", recall.DefaultMaxThrottleRetries),
		RetryBase:          e.dur("RECALL_RETRY_BASE", 2*time.Second),
		RetryMax:           e.dur("RECALL_RETRY_MAX", 5*time.Minute),
		AnalyzeTimeout:     e.dur("RECALL_ANALYZE_TIMEOUT", defTimeout),
		StaleAfter:         e.dur("RECALL_STALE_AFTER", 15*time.Second),
		SweepEvery:         e.dur("RECALL_SWEEP_EVERY", 5*time.Second),
		Concurrency:        e.num("RECALL_CONCURRENCY", 8),
		FairShare:          e.num("RECALL_FAIR_SHARE", recall.DefaultFairShare),
		ProcessFunction:    e.get("RECALL_PROCESS_FUNCTION", ""),
	}
	w.Visibility = e.dur("RECALL_VISIBILITY_TIMEOUT", w.AnalyzeTimeout+30*time.Second)
	if w.Visibility <= w.AnalyzeTimeout {
		e.fail("RECALL_VISIBILITY_TIMEOUT (%s) must be longer than RECALL_ANALYZE_TIMEOUT (%s), or slow analyses would be delivered twice", w.Visibility, w.AnalyzeTimeout)
	}
	return w
}

func readMetrics(e *env) Metrics {
	v, set := e.lookup("RECALL_METRICS_ADDR")
	v = strings.TrimSpace(v)
	switch {
	case !set:
		return Metrics{Addr: DefaultMetricsAddr, Optional: true}
	case v == "" || strings.EqualFold(v, "off"):
		return Metrics{}
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		e.fail("RECALL_METRICS_ADDR=%q: want host:port such as 127.0.0.1:9464, or off", v)
		return Metrics{}
	}
	return Metrics{Addr: v}
}

func readLimits(e *env) Limits {
	return Limits{
		OwnerRPS:          e.rate("RECALL_OWNER_RPS", 10),
		OwnerBurst:        e.num("RECALL_OWNER_BURST", 100),
		OwnerTokensPerDay: e.count("RECALL_OWNER_TOKENS_PER_DAY", 5_000_000),
	}
}

func readLog(e *env) Log {
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	return Log{
		Format: e.choice("RECALL_LOG_FORMAT", "auto", "auto", "json", "text"),
		Level:  levels[e.choice("RECALL_LOG_LEVEL", "info", "debug", "info", "warn", "error")],
	}
}

// minSecretBytes is auth.MinSecretBytes, checked here too so a short secret
// is refused with the other configuration errors (config cannot import auth,
// which carries the API Gateway adapter).
const minSecretBytes = 32

// readAuth reads the keys. Whether the cursor key is required depends on
// what the process opens (package backends), not on the configuration
// alone.
func readAuth(e *env) Auth {
	a := Auth{
		JWTSecret: e.get("RECALL_JWT_SECRET", ""),
		CursorKey: e.get("RECALL_CURSOR_KEY", ""),
	}
	if a.JWTSecret != "" && len(a.JWTSecret) < minSecretBytes {
		e.fail("RECALL_JWT_SECRET is %d bytes; use at least %d (e.g. openssl rand -hex 32), or unset it to have one generated", len(a.JWTSecret), minSecretBytes)
	}
	return a
}

// words splits a list written with spaces (as OAuth writes scopes) or
// commas (as a CloudFormation list parameter joins); nil when empty.
func words(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(f) == 0 {
		return nil
	}
	return f
}

// readWeb reads the web app's sign-in settings. The issuer and the client
// go together; the rest only mean something with them.
func readWeb(e *env) Web {
	w := Web{
		Issuer:        e.get("RECALL_OIDC_ISSUER", ""),
		ClientID:      e.get("RECALL_OIDC_CLIENT_ID", ""),
		Scopes:        words(e.get("RECALL_OIDC_SCOPES", "")),
		TokenEndpoint: e.get("RECALL_OIDC_TOKEN_ENDPOINT", ""),
		TokenUse:      e.choice("RECALL_OIDC_TOKEN_USE", "access", "access", "id"),
	}
	if w.Issuer == "" {
		for _, k := range []string{"RECALL_OIDC_CLIENT_ID", "RECALL_OIDC_SCOPES", "RECALL_OIDC_TOKEN_ENDPOINT"} {
			if e.get(k, "") != "" {
				e.fail("%s is set but RECALL_OIDC_ISSUER is not: OpenID Connect sign-in needs the issuer", k)
			}
		}
	} else if w.ClientID == "" {
		e.fail("RECALL_OIDC_CLIENT_ID is not set: with RECALL_OIDC_ISSUER the web app must know the app client it signs in as")
	}
	return w
}

// ConsumerName is the name this process asks for in the Redis consumer
// group. A restarted `recall serve` asks for the same name so it takes its
// unacknowledged jobs back at once instead of waiting for another worker to
// reclaim them: locally the name is the host plus the data directory; in
// Lambda every container asks for a fresh random name, since a container
// never restarts. The queue, not this name, keeps two live processes apart:
// it claims the name with a heartbeat, and a process that finds it held
// (two workers from one directory, serve and worker, `recall invoke
// process` beside a worker) takes it with a suffix (see package redisq).
func (c Config) ConsumerName() string {
	if c.Redis.Consumer != "" {
		return c.Redis.Consumer
	}
	if c.Mode == Lambda {
		b := make([]byte, 6)
		rand.Read(b)
		return "lambda-" + hex.EncodeToString(b)
	}
	host, _ := os.Hostname()
	dir, err := filepath.Abs(c.Store.DataDir)
	if err != nil {
		dir = c.Store.DataDir
	}
	sum := sha256.Sum256([]byte(dir))
	return fmt.Sprintf("%s-serve-%x", host, sum[:4])
}

// Backends names the backends the configuration selects, for logs and doctor.
func (c Config) Backends() (store, queue, ai string) {
	store, queue, ai = "embedded", "memory", c.Analyzer.Kind
	if c.Store.DynamoTable != "" {
		store = "dynamodb"
	}
	if c.Redis.URL != "" {
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
		attrs = append(attrs, "data_dir", c.Store.DataDir)
	} else {
		attrs = append(attrs, "dynamodb_table", c.Store.DynamoTable, "create_table", c.Store.CreateTable)
	}
	if queue == "redis" {
		attrs = append(attrs, "redis_url", RedactURL(c.Redis.URL), "redis_cluster", c.Redis.Cluster)
	}
	if ai == "bedrock" {
		attrs = append(attrs, "bedrock_model_id", c.Bedrock.Model, "aws_region", c.Region)
	}
	if c.Search.VectorBucket != "" {
		attrs = append(attrs, "vector_bucket", c.Search.VectorBucket, "vector_index", c.Search.VectorIndex, "embed_model", c.Search.EmbedModel)
	}
	if c.Analyzer.Latency > 0 {
		attrs = append(attrs, "analyzer_latency", c.Analyzer.Latency.String())
	}
	if loc := c.Analyzer.Dates.Location; loc != nil && loc != time.UTC {
		attrs = append(attrs, "timezone", loc.String())
	}
	if o := c.Analyzer.Dates.Order; o != duedate.OrderUnknown {
		attrs = append(attrs, "date_order", o.String())
	}
	w := c.Worker
	if w.ProcessFunction != "" {
		attrs = append(attrs, "process_function", w.ProcessFunction)
	}
	jwt := "generated in the data dir"
	if c.Auth.JWTSecret != "" {
		jwt = "set from RECALL_JWT_SECRET"
	}
	return append(attrs, "jwt_secret", jwt,
		"max_attempts", w.MaxAttempts, "retry_base", w.RetryBase.String(),
		"analyze_timeout", w.AnalyzeTimeout.String(), "visibility_timeout", w.Visibility.String(),
		"stale_after", w.StaleAfter.String(), "sweep_every", w.SweepEvery.String(),
		"concurrency", w.Concurrency, "fair_share", w.FairShare)
}

// RedactURL masks the password in a URL so it can be logged.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Redacted()
}

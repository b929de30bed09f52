package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"recall/internal/duedate"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestFromLookupDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    Mode
		env     map[string]string
		dataDir string
	}{
		{"local", Local, nil, "./.recall"},
		{"lambda", Lambda, map[string]string{"RECALL_CURSOR_KEY": "k"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromLookup(tt.mode, lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := Config{
				Mode: tt.mode, Region: "us-east-1",
				Store:    Store{DataDir: tt.dataDir},
				Analyzer: Analyzer{Kind: "local", Dates: duedate.Options{Location: time.UTC}},
				Bedrock:  Bedrock{Model: DefaultBedrockModel},
				Worker: Worker{MaxAttempts: 5, MaxThrottleRetries: 30, RetryBase: 2 * time.Second, RetryMax: 5 * time.Minute,
					AnalyzeTimeout: 30 * time.Second, Visibility: 60 * time.Second,
					StaleAfter: 15 * time.Second, SweepEvery: 5 * time.Second, Concurrency: 8, FairShare: 16},
				Log:     Log{Format: "auto", Level: slog.LevelInfo},
				Auth:    Auth{CursorKey: tt.env["RECALL_CURSOR_KEY"]},
				Web:     Web{TokenUse: "access"},
				Metrics: Metrics{Addr: DefaultMetricsAddr, Optional: true},
				Limits:  Limits{OwnerRPS: 10, OwnerBurst: 100, OwnerTokensPerDay: 5_000_000},
				Search:  Search{EmbedModel: DefaultEmbedModel},
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
			}
			if store, queue, ai := c.Backends(); store != "embedded" || queue != "memory" || ai != "local" {
				t.Errorf("Backends() = %s, %s, %s; want embedded, memory, local", store, queue, ai)
			}
		})
	}
}

// TestFromLookupReadsEveryVariable pins each variable's name to the field it
// sets: the README's configuration table and template.yaml use these names.
func TestFromLookupReadsEveryVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"AWS_REGION": "eu-west-1", "RECALL_DATA_DIR": "/data", "DYNAMODB_TABLE": "recall", "RECALL_CREATE_TABLE": "yes",
		"REDIS_URL": "rediss://app:s3cret@cache.example:6380/0", "RECALL_REDIS_CLUSTER": "true", "RECALL_CONSUMER": "w1",
		"RECALL_AI": "Bedrock", "RECALL_ANALYZER_LATENCY": "20ms", "BEDROCK_MODEL_ID": "m",
		"BEDROCK_MAX_TOKENS": "100", "BEDROCK_INPUT_BUDGET_TOKENS": "200", "BEDROCK_RPM": "30", "BEDROCK_TPM": "4000", "BEDROCK_CACHE_TTL": "1h",
		"RECALL_MAX_ATTEMPTS": "3", "RECALL_MAX_THROTTLE_RETRIES": "7", "RECALL_RETRY_BASE": "250ms", "RECALL_RETRY_MAX": "1m", "RECALL_ANALYZE_TIMEOUT": "20s",
		"RECALL_VISIBILITY_TIMEOUT": "2m", "RECALL_STALE_AFTER": "3s", "RECALL_SWEEP_EVERY": "1s", "RECALL_CONCURRENCY": "32",
		"RECALL_FAIR_SHARE": "40", "RECALL_PROCESS_FUNCTION": "recall-process", "RECALL_LOG_FORMAT": "JSON", "RECALL_LOG_LEVEL": "debug",
		"RECALL_JWT_SECRET": strings.Repeat("s", 32), "RECALL_CURSOR_KEY": "ck",
		"RECALL_OIDC_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC", "RECALL_OIDC_CLIENT_ID": "client1",
		"RECALL_OIDC_SCOPES": "openid email,profile", "RECALL_OIDC_TOKEN_ENDPOINT": "https://recall.auth.eu-west-1.amazoncognito.com/oauth2/token",
		"RECALL_OIDC_TOKEN_USE": "ID", "RECALL_METRICS_ADDR": "0.0.0.0:9100",
		"RECALL_OWNER_RPS": "0.5", "RECALL_OWNER_BURST": "3", "RECALL_OWNER_TOKENS_PER_DAY": "0",
		"RECALL_VECTOR_BUCKET": "recall-vectors", "RECALL_VECTOR_INDEX": "conversations", "RECALL_EMBED_MODEL": "amazon.titan-embed-text-v2:1",
		"RECALL_TIMEZONE": "Europe/Paris", "RECALL_DATE_ORDER": "DMY",
	}
	c, err := FromLookup(Local, lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	if loc := c.Analyzer.Dates.Location; loc == nil || loc.String() != "Europe/Paris" {
		t.Errorf("RECALL_TIMEZONE read as %v, want Europe/Paris", loc)
	}
	c.Analyzer.Dates.Location = nil // compared by name above
	want := Config{
		Mode: Local, Region: "eu-west-1",
		Store:    Store{DataDir: "/data", DynamoTable: "recall", CreateTable: true},
		Redis:    Redis{URL: env["REDIS_URL"], Cluster: true, Consumer: "w1"},
		Analyzer: Analyzer{Kind: "bedrock", Latency: 20 * time.Millisecond, Dates: duedate.Options{Order: duedate.DMY}},
		Bedrock:  Bedrock{Model: "m", MaxTokens: 100, InputBudget: 200, RPM: 30, TPM: 4000, CacheTTL: time.Hour},
		Worker: Worker{MaxAttempts: 3, MaxThrottleRetries: 7, RetryBase: 250 * time.Millisecond, RetryMax: time.Minute, AnalyzeTimeout: 20 * time.Second,
			Visibility: 2 * time.Minute, StaleAfter: 3 * time.Second, SweepEvery: time.Second, Concurrency: 32, FairShare: 40, ProcessFunction: "recall-process"},
		Log:  Log{Format: "json", Level: slog.LevelDebug},
		Auth: Auth{JWTSecret: env["RECALL_JWT_SECRET"], CursorKey: "ck"},
		Web: Web{Issuer: env["RECALL_OIDC_ISSUER"], ClientID: "client1", Scopes: []string{"openid", "email", "profile"},
			TokenEndpoint: env["RECALL_OIDC_TOKEN_ENDPOINT"], TokenUse: "id"},
		Metrics: Metrics{Addr: "0.0.0.0:9100"},
		Limits:  Limits{OwnerRPS: 0.5, OwnerBurst: 3, OwnerTokensPerDay: 0},
		Search:  Search{VectorBucket: "recall-vectors", VectorIndex: "conversations", EmbedModel: "amazon.titan-embed-text-v2:1"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromLookup:\n got %+v\nwant %+v", c, want)
	}
	if c.ConsumerName() != "w1" {
		t.Errorf("ConsumerName() = %q, want RECALL_CONSUMER", c.ConsumerName())
	}

	// AWS_DEFAULT_REGION stands in for AWS_REGION.
	if c, _ := FromLookup(Local, lookup(map[string]string{"AWS_DEFAULT_REGION": "ap-south-1"})); c.Region != "ap-south-1" {
		t.Errorf("Region = %q with only AWS_DEFAULT_REGION set", c.Region)
	}
	// The visibility timeout follows the analysis timeout unless set.
	if c, _ := FromLookup(Local, lookup(map[string]string{"RECALL_AI": "bedrock"})); c.Worker.AnalyzeTimeout != 90*time.Second || c.Worker.Visibility != 120*time.Second {
		t.Errorf("Bedrock timeouts = %s / %s, want 90s / 120s", c.Worker.AnalyzeTimeout, c.Worker.Visibility)
	}
	if c, _ := FromLookup(Local, lookup(map[string]string{"RECALL_ANALYZER_LATENCY": "5s"})); c.Worker.AnalyzeTimeout != 35*time.Second {
		t.Errorf("local analyze timeout with 5s latency = %s, want 35s", c.Worker.AnalyzeTimeout)
	}
	// Metrics off, by name or by an empty value.
	for _, v := range []string{"off", "OFF", "", " "} {
		if c, err := FromLookup(Local, lookup(map[string]string{"RECALL_METRICS_ADDR": v})); err != nil || c.Metrics != (Metrics{}) {
			t.Errorf("RECALL_METRICS_ADDR=%q: %+v, %v; want no metrics", v, c.Metrics, err)
		}
	}
}

func TestLogAttrsHideSecrets(t *testing.T) {
	t.Parallel()
	c, err := FromLookup(Local, lookup(map[string]string{
		"REDIS_URL": "rediss://app:s3cret@cache.example:6380/0", "RECALL_JWT_SECRET": "jwt-0123456789abcdef0123456789abcdef",
		"RECALL_CURSOR_KEY": "cursor-key-5e1f",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	attrs := c.LogAttrs()
	for i := 0; i+1 < len(attrs); i += 2 {
		fmt.Fprintf(&b, "%v=%v ", attrs[i], attrs[i+1])
	}
	logged := b.String()
	for _, secret := range []string{"s3cret", "jwt-0123", "cursor-key-5e1f"} {
		if strings.Contains(logged, secret) {
			t.Errorf("LogAttrs leaks %q: %s", secret, logged)
		}
	}
	if !strings.Contains(logged, "cache.example:6380") || !strings.Contains(logged, "jwt_secret=set from RECALL_JWT_SECRET") {
		t.Errorf("LogAttrs lacks the Redis host or the secret's source: %s", logged)
	}
}

func TestFromLookupErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode       Mode
		key, value string
	}{
		{Local, "RECALL_RETRY_BASE", "soon"},
		{Local, "RECALL_MAX_ATTEMPTS", "0"},
		{Local, "RECALL_MAX_THROTTLE_RETRIES", "-1"},
		{Local, "RECALL_CONCURRENCY", "many"},
		{Local, "RECALL_FAIR_SHARE", "0"},
		{Local, "BEDROCK_RPM", "-1"},
		{Local, "RECALL_AI", "gpt"},
		{Local, "RECALL_REDIS_CLUSTER", "maybe"},
		{Local, "REDIS_URL", "localhost:6379"},
		{Local, "RECALL_LOG_FORMAT", "xml"},
		{Local, "RECALL_LOG_LEVEL", "loud"},
		{Local, "RECALL_VISIBILITY_TIMEOUT", "1s"},
		{Local, "RECALL_JWT_SECRET", "short"},
		{Local, "RECALL_OIDC_TOKEN_USE", "refresh"},
		{Local, "RECALL_METRICS_ADDR", "9464"},
		{Local, "RECALL_OWNER_RPS", "-1"},
		{Local, "RECALL_OWNER_RPS", "fast"},
		{Local, "RECALL_OWNER_BURST", "0"},
		{Local, "RECALL_OWNER_TOKENS_PER_DAY", "-5"},
		{Local, "RECALL_TIMEZONE", "Mars/Olympus"},
		{Local, "RECALL_TIMEZONE", "+02:00"},
		{Local, "RECALL_DATE_ORDER", "ymd"},
		// The OpenID Connect settings mean nothing without the issuer,
		// and the issuer nothing without the client.
		{Local, "RECALL_OIDC_CLIENT_ID", "client1"},
		{Local, "RECALL_OIDC_SCOPES", "openid"},
		{Local, "RECALL_OIDC_TOKEN_ENDPOINT", "https://idp.example/token"},
		{Lambda, "RECALL_OIDC_ISSUER", "https://idp.example"},
		// Search on AWS: the bucket and the index go together, on the
		// DynamoDB store.
		{Local, "RECALL_VECTOR_BUCKET", "recall-vectors"},
		{Local, "RECALL_VECTOR_INDEX", "conversations"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := FromLookup(tt.mode, lookup(map[string]string{tt.key: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("FromLookup(%s=%q) error = %v, want one naming %s", tt.key, tt.value, err, tt.key)
			}
		})
	}
}

// TestFromLookupReportsEveryError: one run names every bad variable, so an
// operator fixes them all at once.
func TestFromLookupReportsEveryError(t *testing.T) {
	t.Parallel()
	_, err := FromLookup(Lambda, lookup(map[string]string{"RECALL_RETRY_BASE": "soon", "RECALL_AI": "gpt", "RECALL_OIDC_SCOPES": "openid"}))
	for _, k := range []string{"RECALL_RETRY_BASE", "RECALL_AI", "RECALL_OIDC_SCOPES"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("error %v does not name %s", err, k)
		}
	}
}

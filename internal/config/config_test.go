package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestFromLookupDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mode    Mode
		dataDir string
	}{
		{"local", Local, "./.recall"},
		{"lambda", Lambda, "/tmp/recall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromLookup(tt.mode, lookup(nil))
			if err != nil {
				t.Fatal(err)
			}
			if c.DataDir != tt.dataDir {
				t.Errorf("DataDir = %q, want %q", c.DataDir, tt.dataDir)
			}
			if store, queue, ai := c.Backends(); store != "embedded" || queue != "memory" || ai != "local" {
				t.Errorf("Backends() = %s, %s, %s; want embedded, memory, local", store, queue, ai)
			}
			if c.Region != "us-east-1" || c.BedrockModel != DefaultBedrockModel || c.MaxAttempts != 5 {
				t.Errorf("defaults: region %q model %q attempts %d", c.Region, c.BedrockModel, c.MaxAttempts)
			}
			if c.Visibility <= c.AnalyzeTimeout {
				t.Errorf("visibility %s not longer than analyze timeout %s", c.Visibility, c.AnalyzeTimeout)
			}
		})
	}
}

func TestFromLookupOverrides(t *testing.T) {
	t.Parallel()
	c, err := FromLookup(Local, lookup(map[string]string{
		"REDIS_URL": "rediss://app:s3cret@cache.example:6380/0", "RECALL_REDIS_CLUSTER": "true",
		"DYNAMODB_TABLE": "recall", "RECALL_AI": "Bedrock", "AWS_REGION": "eu-west-1",
		"RECALL_RETRY_BASE": "250ms", "RECALL_CONCURRENCY": "32", "RECALL_ANALYZE_TIMEOUT": "20s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if store, queue, ai := c.Backends(); store != "dynamodb" || queue != "redis" || ai != "bedrock" {
		t.Errorf("Backends() = %s, %s, %s", store, queue, ai)
	}
	if c.RetryBase != 250*time.Millisecond || c.Concurrency != 32 || !c.RedisCluster || c.Region != "eu-west-1" {
		t.Errorf("overrides not applied: %+v", c)
	}
	if c.Visibility != 50*time.Second {
		t.Errorf("Visibility = %s, want analyze timeout + 30s", c.Visibility)
	}
	logged := fmtAttrs(c.LogAttrs())
	if strings.Contains(logged, "s3cret") {
		t.Errorf("LogAttrs leaks the Redis password: %s", logged)
	}
	if !strings.Contains(logged, "cache.example:6380") {
		t.Errorf("LogAttrs lacks the Redis host: %s", logged)
	}
}

func fmtAttrs(attrs []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(attrs); i += 2 {
		fmt.Fprintf(&b, "%v=%v ", attrs[i], attrs[i+1])
	}
	return b.String()
}

func TestFromLookupErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, value string }{
		{"RECALL_RETRY_BASE", "soon"},
		{"RECALL_MAX_ATTEMPTS", "0"},
		{"RECALL_CONCURRENCY", "many"},
		{"RECALL_AI", "gpt"},
		{"RECALL_REDIS_CLUSTER", "maybe"},
		{"REDIS_URL", "localhost:6379"},
		{"RECALL_LOG_FORMAT", "xml"},
		{"RECALL_VISIBILITY_TIMEOUT", "1s"},
		{"RECALL_JWT_SECRET", "short"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := FromLookup(Local, lookup(map[string]string{tt.key: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("FromLookup(%s=%q) error = %v, want one naming %s", tt.key, tt.value, err, tt.key)
			}
		})
	}
}

func TestSecretIsGeneratedOnceAndKept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	c := Config{DataDir: dir}
	a, err := c.Secret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Secret()
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) || len(a) < 32 {
		t.Fatalf("secrets differ or are short: %q %q", a, b)
	}
	st, err := os.Stat(filepath.Join(dir, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v, want 0600", st.Mode().Perm())
	}
	c.JWTSecret = "from-env-0123456789abcdef0123456789"
	if s, _ := c.Secret(); string(s) != "from-env-0123456789abcdef0123456789" {
		t.Errorf("RECALL_JWT_SECRET not preferred: %q", s)
	}
}

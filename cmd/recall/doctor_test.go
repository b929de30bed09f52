package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/boltstore"
	"recall/internal/config"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// cleanEnv clears every variable that selects or tunes a backend, so a test
// starts from the embedded defaults whatever the developer's shell holds.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{
		"REDIS_URL", "RECALL_REDIS_CLUSTER", "RECALL_CONSUMER", "DYNAMODB_TABLE", "RECALL_CREATE_TABLE",
		"RECALL_AI", "BEDROCK_MODEL_ID", "RECALL_DATA_DIR", "RECALL_JWT_SECRET", "RECALL_CURSOR_KEY",
		"RECALL_ANALYZER_LATENCY", "RECALL_MAX_ATTEMPTS", "RECALL_RETRY_BASE", "RECALL_RETRY_MAX",
		"RECALL_ANALYZE_TIMEOUT", "RECALL_VISIBILITY_TIMEOUT", "RECALL_STALE_AFTER", "RECALL_SWEEP_EVERY",
		"RECALL_CONCURRENCY", "RECALL_LOG_FORMAT", "RECALL_LOG_LEVEL", "RECALL_ADDR",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
	} {
		t.Setenv(k, "")
	}
}

// awsTestCreds points the AWS SDK at static credentials and nothing else.
func awsTestCreds(t *testing.T, key, secret, region string) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": region, "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// line returns the output line of a component's check.
func line(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "✅ "+name+" ") || strings.HasPrefix(l, "❌ "+name+" ") {
			return l
		}
	}
	return ""
}

func TestDoctorEmbeddedDefaults(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "doctor", "--data", dir, "--live")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, name := range []string{"config", "store", "queue", "analyzer"} {
		if l := line(out, name); !strings.HasPrefix(l, "✅") {
			t.Errorf("%s: %q\n%s", name, l, out)
		}
	}
	if !strings.Contains(line(out, "store"), "write/read/delete probe ok") || !strings.Contains(line(out, "analyzer"), "live call ok") {
		t.Errorf("output does not say what was checked:\n%s", out)
	}
	if !strings.Contains(out, "All checks passed.") {
		t.Errorf("no summary:\n%s", out)
	}
}

func TestDoctorRedisDown(t *testing.T) {
	cleanEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	t.Setenv("REDIS_URL", fmt.Sprintf("redis://:hunter2-secret@127.0.0.1:%d/0", port))
	code, out, _ := runCLI(t, "doctor", "--data", t.TempDir())
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.HasPrefix(line(out, "queue"), "❌") {
		t.Errorf("queue line: %q", line(out, "queue"))
	}
	if !strings.Contains(out, "fix: nothing usable answers at") || !strings.Contains(out, "docker compose up -d redis") {
		t.Errorf("no fix for the queue:\n%s", out)
	}
	if strings.Contains(out, "hunter2-secret") {
		t.Errorf("doctor printed the Redis password:\n%s", out)
	}
	for _, name := range []string{"store", "analyzer"} {
		if !strings.HasPrefix(line(out, name), "✅") {
			t.Errorf("a queue outage failed %s too: %q", name, line(out, name))
		}
	}
}

func TestDoctorStoreInUse(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	held, err := boltstore.Open(filepath.Join(dir, "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, out, _ := runCLI(t, "doctor", "--data", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.HasPrefix(line(out, "store"), "❌") || !strings.Contains(out, "stop recall serve or point --data elsewhere") {
		t.Errorf("the held data dir is not explained:\n%s", out)
	}
	if !strings.HasPrefix(line(out, "queue"), "✅") || !strings.HasPrefix(line(out, "analyzer"), "✅") {
		t.Errorf("the held store failed the other checks too:\n%s", out)
	}
}

func TestDoctorBadConfiguration(t *testing.T) {
	cleanEnv(t)
	t.Setenv("RECALL_MAX_ATTEMPTS", "lots")
	code, out, _ := runCLI(t, "doctor", "--data", t.TempDir())
	if code != 1 || !strings.HasPrefix(line(out, "config"), "❌") || !strings.Contains(out, "RECALL_MAX_ATTEMPTS") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestDoctorHungRedis points REDIS_URL at a server that accepts connections
// and never answers: doctor must give up at --timeout, not hang.
func TestDoctorHungRedis(t *testing.T) {
	cleanEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Setenv("REDIS_URL", "redis://"+l.Addr().String())
	start := time.Now()
	code, out, _ := runCLI(t, "doctor", "--data", t.TempDir(), "--timeout", "700ms")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("doctor took %s with --timeout 700ms", took)
	}
	if code != 1 || !strings.Contains(line(out, "queue"), "no answer within 700ms") || !strings.Contains(out, "accepts connections but does not answer") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestDoctorRedisAndDynalite(t *testing.T) {
	cleanEnv(t)
	rs := testenv.StartRedis(t)
	endpoint := testenv.StartDynalite(t)
	awsTestCreds(t, "test", "test", "us-east-1")
	t.Setenv("REDIS_URL", rs.URL())
	t.Setenv("DYNAMODB_TABLE", fmt.Sprintf("doctor-%d", time.Now().UnixNano()))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)

	// Without RECALL_CREATE_TABLE the table is missing, and doctor says how
	// to make it.
	code, out, _ := runCLI(t, "doctor", "--data", t.TempDir())
	if code != 1 || !strings.HasPrefix(line(out, "store"), "❌") || !strings.Contains(out, "fix: table "+os.Getenv("DYNAMODB_TABLE")+" does not exist") || !strings.Contains(out, "RECALL_CREATE_TABLE=true") {
		t.Fatalf("missing table: exit %d\n%s", code, out)
	}

	t.Setenv("RECALL_CREATE_TABLE", "1")
	code, out, _ = runCLI(t, "doctor", "--data", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if l := line(out, "store"); !strings.Contains(l, "DynamoDB table") || !strings.Contains(l, "probe ok") {
		t.Errorf("store: %q", l)
	}
	if l := line(out, "queue"); !strings.Contains(l, "waiting high/default/low 0/0/0") {
		t.Errorf("queue: %q", l)
	}

	// A Redis that may evict keys would lose jobs: a failure with the fix.
	if err := rs.Client().ConfigSet(t.Context(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "doctor", "--data", t.TempDir())
	if code != 1 || !strings.HasPrefix(line(out, "queue"), "❌") || !strings.Contains(out, "CONFIG SET maxmemory-policy noeviction") {
		t.Fatalf("allkeys-lru: exit %d\n%s", code, out)
	}
}

// TestDoctorDynamoDown points the store at an endpoint where nothing
// listens: the store fails with the endpoint to start, the others pass.
func TestDoctorDynamoDown(t *testing.T) {
	cleanEnv(t)
	awsTestCreds(t, "test", "test", "us-east-1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	t.Setenv("DYNAMODB_TABLE", "recall")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	code, out, _ := runCLI(t, "doctor", "--data", t.TempDir())
	if code != 1 || !strings.HasPrefix(line(out, "store"), "❌") || !strings.Contains(out, "fix: nothing answers at "+endpoint) {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.HasPrefix(line(out, "queue"), "✅") || !strings.HasPrefix(line(out, "analyzer"), "✅") {
		t.Errorf("a store outage failed the other checks too:\n%s", out)
	}
}

// TestDoctorFixesComeFromCodes: doctor chooses a fix by the error's domain
// code and prints the backend's message; an error without a code gets the
// generic fix, whatever words it holds.
func TestDoctorFixesComeFromCodes(t *testing.T) {
	t.Parallel()
	cfg, err := config.FromLookup(config.Local, func(k string) (string, bool) {
		v, ok := map[string]string{"DYNAMODB_TABLE": "recall", "REDIS_URL": "redis://:pw@cache:6379/0"}[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fix  func(config.Config, error) string
		err  error
		want string
	}{
		{"store missing table", storeFix, fmt.Errorf("dynamo: probe: %w", recall.Errorf(recall.ENOTFOUND, "table recall does not exist: deploy")), "table recall does not exist: deploy"},
		{"store credentials", storeFix, recall.Errorf(recall.EUNAUTHORIZED, "refused: check keys"), "refused: check keys"},
		{"store access", storeFix, recall.Errorf(recall.EPERMISSION, "allow dynamodb:PutItem"), "allow dynamodb:PutItem"},
		{"store down", storeFix, recall.Errorf(recall.EUNAVAILABLE, "nothing answers at X"), "nothing answers at X"},
		{"store, no code", storeFix, errors.New("ResourceNotFoundException: dial tcp: EOF"), "check DYNAMODB_TABLE (recall), AWS_REGION (us-east-1) and the credentials"},
		{"queue credentials", queueFix, recall.Errorf(recall.EUNAUTHORIZED, "Redis refused the credentials: fix REDIS_URL"), "Redis refused the credentials: fix REDIS_URL"},
		{"queue TLS or cluster", queueFix, recall.Errorf(recall.EINVALID, "use rediss://"), "use rediss://"},
		{"queue down", queueFix, recall.Errorf(recall.EUNAVAILABLE, "connection refused"), "nothing usable answers at redis://:xxxxx@cache:6379/0: start it with docker compose up -d redis"},
		{"queue, no code", queueFix, errors.New("WRONGPASS invalid username-password pair; tls: MOVED"), "nothing usable answers at redis://:xxxxx@cache:6379/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fix(cfg, tt.err); !strings.HasPrefix(got, tt.want) {
				t.Errorf("fix = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDoctorBedrock(t *testing.T) {
	cleanEnv(t)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: "us-west-2", AccessKeyID: "AKIDDOCTORTEST", SecretAccessKey: "doctor-test-secret"})
	awsTestCreds(t, "AKIDDOCTORTEST", "doctor-test-secret", "us-west-2")
	t.Setenv("RECALL_AI", "bedrock")
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.URL)

	// Without --live: credentials and settings only, no model call.
	code, out, _ := runCLI(t, "doctor", "--data", t.TempDir())
	if code != 0 || !strings.Contains(line(out, "analyzer"), "credentials from") || fake.Calls() != 0 {
		t.Fatalf("exit %d, %d calls\n%s", code, fake.Calls(), out)
	}
	if strings.Contains(out, "doctor-test-secret") || strings.Contains(out, "AKIDDOCTORTEST") {
		t.Errorf("doctor printed credentials:\n%s", out)
	}

	code, out, _ = runCLI(t, "doctor", "--data", t.TempDir(), "--live")
	if code != 0 || !strings.Contains(line(out, "analyzer"), "live call ok") || fake.Calls() != 1 {
		t.Fatalf("--live: exit %d, %d calls\n%s", code, fake.Calls(), out)
	}

	// Access denied: the fix names the model and the region.
	fake.Enqueue(bedrocktest.Error("AccessDeniedException", "You don't have access to the model with the specified model ID."))
	code, out, _ = runCLI(t, "doctor", "--data", t.TempDir(), "--live")
	if code != 1 || !strings.HasPrefix(line(out, "analyzer"), "❌") || !strings.Contains(out, bedrock.DefaultModelID) || !strings.Contains(out, "us-west-2") {
		t.Fatalf("access denied: exit %d\n%s", code, out)
	}

	// A fresh account whose first call could not subscribe in AWS
	// Marketplace: not a quota and not IAM on bedrock:InvokeModel; the fix
	// says who makes the first call and that analyses wait by themselves.
	fake.Enqueue(bedrocktest.Error("AccessDeniedException", "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions "+
		"(aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Your AWS Marketplace subscription for this model "+
		"cannot be completed at this time. If you recently fixed this issue, try again after 2 minutes."))
	code, out, _ = runCLI(t, "doctor", "--data", t.TempDir(), "--live")
	an := line(out, "analyzer")
	if code != 1 || !strings.HasPrefix(an, "❌") || !strings.Contains(an, "not finished enabling") ||
		!strings.Contains(out, "administrator") || !strings.Contains(out, "aws-marketplace:Subscribe") || strings.Contains(an, "quota is busy") {
		t.Fatalf("marketplace denial: exit %d\n%s", code, out)
	}
	fake.TakeViolations()
}

// blockingStore is a store whose Ping never returns until its context ends
// (and, with ignoreCtx, not even then).
type blockingStore struct {
	recall.Store
	ignoreCtx bool
	release   chan struct{}
}

func (s blockingStore) Ping(ctx context.Context) error {
	if s.ignoreCtx {
		<-s.release
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestHealthAnswersWhenAComponentHangs: health stays within about a second
// even when the store hangs, and says which component failed.
func TestHealthAnswersWhenAComponentHangs(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprint("ignores context=", ignore), func(t *testing.T) {
			st, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			release := make(chan struct{})
			defer close(release)
			q := memq.New(memq.Options{})
			defer q.Close()
			svc := recall.NewService(recall.Config{Store: blockingStore{Store: st, ignoreCtx: ignore, release: release}, Queue: q, Analyzer: fixedAnalyzer{}})
			start := time.Now()
			done := make(chan recall.Health, 1)
			go func() { done <- svc.Health(context.Background()) }()
			select {
			case h := <-done:
				if took := time.Since(start); took > time.Second {
					t.Errorf("health took %s", took)
				}
				if h.Healthy || h.Components["database"] != recall.HealthUnavailable {
					t.Errorf("health = %+v; want unhealthy with the database in error", h)
				}
				if h.Components["queue"] != "ok" || h.Components["ai"] != "fixed" {
					t.Errorf("the hung store affected the others: %+v", h.Components)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("health did not answer within 10s")
			}
		})
	}
}

type fixedAnalyzer struct{}

func (fixedAnalyzer) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	return recall.Analysis{Summary: "s", Model: "fixed"}, nil
}
func (fixedAnalyzer) Health(context.Context) (string, error) { return "fixed", nil }

package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"recall/internal/dynamo"
	"recall/internal/testenv"
)

// rieModule is the Lambda Runtime Interface Emulator, pinned. It is built
// with `go install module@version` into the tests' own directory, so it
// never enters go.mod.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

var (
	rieOnce sync.Once
	riePath string
	rieErr  error
)

// rieBinary builds the emulator once per test binary.
func rieBinary(t testing.TB) string {
	t.Helper()
	rieOnce.Do(func() {
		bin := filepath.Join(workDir, "rie")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(t), "install", rieModule)
		cmd.Dir = workDir // outside the module: its dependencies stay out of go.mod
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			rieErr = fmt.Errorf("go install %s: %v\n%s", rieModule, err, out)
			return
		}
		riePath = filepath.Join(bin, "aws-lambda-rie")
	})
	if rieErr != nil {
		t.Fatalf("deploy: %v", rieErr)
	}
	return riePath
}

// emulator is one aws-lambda-rie process serving one function.
type emulator struct {
	name    string
	cmd     *exec.Cmd
	addr    string
	out     *testenv.Buffer
	started time.Time // process start
	ready   time.Time // listening
	exited  chan struct{}
	stopped bool
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startEmulator starts the emulator for the function binary bootstrap with
// env added to a Lambda-like environment (nothing of this process's own, so
// no credentials or endpoints leak in). The emulator starts the bootstrap
// at the first invocation, as Lambda does on a cold start.
func startEmulator(t testing.TB, name, bootstrap string, env map[string]string) *emulator {
	t.Helper()
	rie := rieBinary(t)
	e := &emulator{name: name, addr: freeAddr(t), out: &testenv.Buffer{}, exited: make(chan struct{})}
	runtimeAPI := freeAddr(t)
	e.cmd = exec.Command(rie, "--runtime-interface-emulator-address", e.addr, "--runtime-api-address", runtimeAPI, bootstrap)
	e.cmd.Dir = filepath.Dir(bootstrap)
	base := map[string]string{
		"PATH":                            "/usr/bin:/bin",
		"HOME":                            t.TempDir(),
		"AWS_REGION":                      fakeRegion,
		"AWS_LAMBDA_FUNCTION_NAME":        appStackName + "-" + name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "60",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"LOG_LEVEL":                       "error",
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		e.cmd.Env = append(e.cmd.Env, k+"="+v)
	}
	e.cmd.Stdout, e.cmd.Stderr = e.out, e.out
	// Its own process group, so stopping it also stops the bootstrap it
	// started; and killed with the test binary.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	e.started = time.Now()
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("deploy: start %s: %v", rie, err)
	}
	go func() { e.cmd.Wait(); close(e.exited) }()
	t.Cleanup(e.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", e.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			e.ready = time.Now()
			return e
		}
		select {
		case <-e.exited:
			t.Fatalf("deploy: the emulator for %s exited at start:\n%s", name, e.out.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploy: the emulator for %s did not listen on %s within 15s:\n%s", name, e.addr, e.out.String())
		}
	}
}

// stop kills the emulator and the bootstrap and waits for both, so neither
// outlives the test that started them.
func (e *emulator) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	<-e.exited
	// The bootstrap is the emulator's child in the same group; wait until
	// it is gone too.
	for range 200 {
		if bootstrapPID(e.cmd.Process.Pid) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// invoke sends payload as one invocation and returns the function's
// response payload; a function error fails the test.
func (e *emulator) invoke(t testing.TB, payload []byte) []byte {
	t.Helper()
	body := e.invokeRaw(t, payload)
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(body, &lambdaErr) == nil && lambdaErr.ErrorType != "" {
		t.Fatalf("deploy: %s returned a function error %s: %s\n%s", e.name, lambdaErr.ErrorType, lambdaErr.ErrorMessage, e.out.String())
	}
	return body
}

// invokeRaw sends payload as one invocation and returns what the emulator
// answered, function errors included.
func (e *emulator) invokeRaw(t testing.TB, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("deploy: invoke %s: %v\n%s", e.name, err, e.out.String())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("deploy: invoke %s: emulator answered %d %s\n%s", e.name, resp.StatusCode, body, e.out.String())
	}
	return body
}

// emfCarries reports whether out holds a CloudWatch Embedded Metric Format
// line (a JSON object with _aws.CloudWatchMetrics) carrying metric.
func emfCarries(out, metric string) bool {
	for _, line := range strings.Split(out, "\n") {
		var doc map[string]any
		if json.Unmarshal([]byte(line), &doc) != nil {
			continue
		}
		aws, _ := doc["_aws"].(map[string]any)
		if _, ok := doc[metric]; ok && aws["CloudWatchMetrics"] != nil {
			return true
		}
	}
	return false
}

// bootstrapPID returns the pid of the process whose parent is rie, or 0.
func bootstrapPID(rie int) int {
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at ')'.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(rie) {
				return pid
			}
		}
	}
	return 0
}

// rssKB returns the resident set size of the function's bootstrap process
// (VmRSS in /proc/PID/status), or -1.
func (e *emulator) rssKB() int {
	pid := bootstrapPID(e.cmd.Process.Pid)
	if pid == 0 {
		return -1
	}
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return -1
}

// ------------------------------------------------------------- events

// sampleEvent reads events/<name>.json.
func sampleEvent(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("events/%s.json: %v", name, err)
	}
	return ev
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventOwner is the JWT subject the sample HTTP events carry.
func eventOwner(t testing.TB, ev map[string]any) string {
	t.Helper()
	rc, _ := ev["requestContext"].(map[string]any)
	au, _ := rc["authorizer"].(map[string]any)
	jwt, _ := au["jwt"].(map[string]any)
	claims, _ := jwt["claims"].(map[string]any)
	sub, _ := claims["sub"].(string)
	if sub == "" {
		t.Fatal("the sample event carries no JWT subject")
	}
	return sub
}

// forID rewrites the sample get event to ask for conversation id.
func forID(ev map[string]any, id string) map[string]any {
	out := map[string]any{}
	for k, v := range ev {
		out[k] = v
	}
	path := "/api/conversations/" + id
	out["rawPath"] = path
	out["pathParameters"] = map[string]any{"id": id}
	rc := map[string]any{}
	for k, v := range ev["requestContext"].(map[string]any) {
		rc[k] = v
	}
	h := map[string]any{}
	for k, v := range rc["http"].(map[string]any) {
		h[k] = v
	}
	h["path"] = path
	rc["http"] = h
	out["requestContext"] = rc
	return out
}

// withBody returns the sample create event with another body and
// idempotency key.
func withBody(ev map[string]any, body, idemKey string) map[string]any {
	out := map[string]any{}
	for k, v := range ev {
		out[k] = v
	}
	out["body"] = body
	h := map[string]any{}
	for k, v := range ev["headers"].(map[string]any) {
		h[k] = v
	}
	h["idempotency-key"] = idemKey
	h["content-length"] = strconv.Itoa(len(body))
	out["headers"] = h
	return out
}

// httpResponse is an API Gateway payload 2.0 response.
type httpResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func decodeHTTP(t testing.TB, raw []byte, wantStatus int) map[string]any {
	t.Helper()
	var r httpResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("not an API Gateway response: %v: %s", err, raw)
	}
	if r.StatusCode != wantStatus {
		t.Fatalf("status %d; want %d: %s", r.StatusCode, wantStatus, r.Body)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.Body)
	}
	return body
}

// processResult is the process function's answer.
type processResult struct {
	Mode           string `json:"mode"`
	ConversationID string `json:"conversation_id"`
	Outcome        string `json:"outcome"`
	Drain          *struct {
		Outcomes map[string]int `json:"outcomes"`
		Swept    int            `json:"swept"`
		Jobs     int            `json:"jobs"`
	} `json:"drain"`
}

// figures collects what the emulator runs measured, for one log line.
type figures struct {
	mu   sync.Mutex
	rows []string
}

// coldStart is what one cold start measured.
type coldStart struct {
	ready time.Duration // emulator process start to listening
	first time.Duration // emulator process start to the first response
	cold  time.Duration // the first invocation: bootstrap start, init, handler
	rssKB int           // the bootstrap's VmRSS after it
}

func (f *figures) add(name string, c coldStart) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows = append(f.rows, fmt.Sprintf("%-8s first response %5.1f ms after the emulator started (emulator ready %4.1f ms, cold invocation %5.1f ms), RSS %5.1f MB",
		name, ms(c.first), ms(c.ready), ms(c.cold), float64(c.rssKB)/1024))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// coldInvoke makes the first invocation of a fresh emulator and measures it.
func coldInvoke(t testing.TB, e *emulator, payload []byte) ([]byte, coldStart) {
	t.Helper()
	start := time.Now()
	out := e.invoke(t, payload)
	now := time.Now()
	return out, coldStart{ready: e.ready.Sub(e.started), first: now.Sub(e.started), cold: now.Sub(start), rssKB: e.rssKB()}
}

// --------------------------------------------------------------- tests

func requireEmulator(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the Lambda Runtime Interface Emulator runs only on Linux")
	}
	testenv.SkipShort(t, "builds the functions and the emulator")
}

// dynamoEnv is what a function needs to keep conversations in a new table
// on the DynamoDB API at endpoint (dynalite): the table, created here, the
// endpoint, and credentials, which dynalite accepts whatever they are. A
// Lambda function has no embedded store.
func dynamoEnv(t testing.TB, endpoint string) map[string]string {
	t.Helper()
	table := fmt.Sprintf("recall-emulator-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.New(testenv.DynamoClient(t, endpoint), table, dynamo.Options{}).CreateTable(ctx); err != nil {
		t.Fatalf("deploy: create table: %v", err)
	}
	return map[string]string{
		"DYNAMODB_TABLE":            table,
		"AWS_ENDPOINT_URL_DYNAMODB": endpoint,
		"AWS_ACCESS_KEY_ID":         "emulator",
		"AWS_SECRET_ACCESS_KEY":     "emulator",
	}
}

// TestFunctionsUnderEmulator runs each function binary, built as for
// Lambda, under the Runtime Interface Emulator with the sample events, on
// a DynamoDB table in dynalite and each function's in-process queue:
// create two conversations, analyse one with a direct invocation of
// process and the other with a scheduled one (the sweep finds it, the
// drain finishes it), then read both back.
func TestFunctionsUnderEmulator(t *testing.T) {
	requireEmulator(t)
	bins := buildFunctions(t, runtime.GOARCH)
	env := dynamoEnv(t, testenv.StartDynalite(t))
	maps.Copy(env, map[string]string{
		"RECALL_CURSOR_KEY": "deploy-test-cursor-key",
		"RECALL_LOG_LEVEL":  "warn",
		"RECALL_AI":         "local",
		// The scheduled run must find the second conversation stale at once.
		"RECALL_STALE_AFTER": "1ms",
	})
	figs := &figures{}
	defer func() {
		t.Logf("under the emulator (linux/%s):\n\t%s", runtime.GOARCH, strings.Join(figs.rows, "\n\t"))
	}()

	// A function without a cursor key refuses to start, saying how to set
	// one, rather than signing cursors with a key anyone could know.
	t.Run("no cursor key", func(t *testing.T) {
		noKey := maps.Clone(env)
		delete(noKey, "RECALL_CURSOR_KEY")
		refusesToStart(t, bins, "get", noKey, "RECALL_CURSOR_KEY is not set")
	})

	// A function without a table refuses to start, saying to set it: it
	// has no embedded store to fall back on (and would lose what it kept
	// on its own disk).
	t.Run("no table", func(t *testing.T) {
		noTable := maps.Clone(env)
		delete(noTable, "DYNAMODB_TABLE")
		for _, name := range []string{"create", "get", "health", "process"} {
			refusesToStart(t, bins, name, noTable, "DYNAMODB_TABLE is not set")
		}
	})

	t.Run("health", func(t *testing.T) {
		e := startEmulator(t, "health", bins["health"], env)
		raw, first := coldInvoke(t, e, mustJSON(t, sampleEvent(t, "health")))
		figs.add(e.name, first)
		body := decodeHTTP(t, raw, http.StatusOK)
		if body["status"] != "healthy" {
			t.Errorf("health: %v", body)
		}
	})

	createEv := sampleEvent(t, "create")
	owner := eventOwner(t, createEv)
	var direct, scheduled string
	t.Run("create", func(t *testing.T) {
		e := startEmulator(t, "create", bins["create"], env)
		raw, first := coldInvoke(t, e, mustJSON(t, createEv))
		figs.add(e.name, first)
		body := decodeHTTP(t, raw, http.StatusCreated)
		direct, _ = body["id"].(string)
		if direct == "" || body["ai_status"] != "pending" {
			t.Fatalf("create answered %v; want an id and ai_status pending", body)
		}
		second := withBody(createEv, `{"content": "Standup. Dana will fix the flaky deploy test by Monday. We need to rotate the staging keys."}`, "deploy-test-second")
		body = decodeHTTP(t, e.invoke(t, mustJSON(t, second)), http.StatusCreated)
		scheduled, _ = body["id"].(string)
		if scheduled == "" || scheduled == direct {
			t.Fatalf("second create answered %v", body)
		}
		if !emfCarries(e.out.String(), "recall_conversations_created_total") {
			t.Errorf("create wrote no CloudWatch EMF line with recall_conversations_created_total:\n%s", e.out.String())
		}
	})
	if t.Failed() {
		return
	}

	t.Run("process direct", func(t *testing.T) {
		e := startEmulator(t, "process", bins["process"], env)
		ev := sampleEvent(t, "process-direct")
		ev["conversation_id"], ev["owner"] = direct, owner
		raw, first := coldInvoke(t, e, mustJSON(t, ev))
		figs.add(e.name, first)
		var res processResult
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("process: %v: %s", err, raw)
		}
		if res.Mode != "direct" || res.ConversationID != direct || res.Outcome != "done" {
			t.Errorf("process answered %+v; want mode direct, outcome done for %s", res, direct)
		}
	})

	t.Run("process scheduled", func(t *testing.T) {
		e := startEmulator(t, "process", bins["process"], env)
		var res processResult
		raw := e.invoke(t, mustJSON(t, sampleEvent(t, "process-scheduled")))
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("process: %v: %s", err, raw)
		}
		if res.Mode != "scheduled" || res.Drain == nil || res.Drain.Swept < 1 || res.Drain.Outcomes["done"] != 1 {
			t.Errorf("scheduled process answered %s; want the sweep to find the pending conversation and the drain to finish it", raw)
		}
		// The queue gauges the dead-letter and queue-age alarms watch.
		if !emfCarries(e.out.String(), "recall_queue_oldest_age_seconds") {
			t.Errorf("process wrote no CloudWatch EMF line with recall_queue_oldest_age_seconds:\n%s", e.out.String())
		}
	})

	t.Run("get", func(t *testing.T) {
		e := startEmulator(t, "get", bins["get"], env)
		getEv := sampleEvent(t, "get")
		raw, first := coldInvoke(t, e, mustJSON(t, forID(getEv, direct)))
		figs.add(e.name, first)
		decodeHTTP(t, raw, http.StatusOK)
		for _, id := range []string{direct, scheduled} {
			body := decodeHTTP(t, e.invoke(t, mustJSON(t, forID(getEv, id))), http.StatusOK)
			if body["ai_status"] != "done" || body["ai_summary"] == "" || body["ai_summary"] == nil {
				t.Errorf("get %s: %v; want ai_status done with a summary", id, body)
			}
		}
		list := decodeHTTP(t, e.invoke(t, mustJSON(t, sampleEvent(t, "list"))), http.StatusOK)
		items, _ := list["items"].([]any)
		var ids []string
		for _, it := range items {
			m, _ := it.(map[string]any)
			id, _ := m["id"].(string)
			ids = append(ids, id)
		}
		sort.Strings(ids)
		want := []string{direct, scheduled}
		sort.Strings(want)
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Errorf("list shows %v; want %v", ids, want)
		}
	})
}

// refusesToStart invokes function name under the emulator with env and
// checks that it failed to start, logging why.
func refusesToStart(t *testing.T, bins map[string]string, name string, env map[string]string, why string) {
	t.Helper()
	e := startEmulator(t, name, bins[name], env)
	defer e.stop()
	ev := map[string]string{"create": "create", "get": "get", "health": "health", "process": "process-direct"}[name]
	resp, err := http.Post("http://"+e.addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(mustJSON(t, sampleEvent(t, ev))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(e.out.String(), why) {
		t.Errorf("%s: the emulator answered %d; want an init failure saying %q:\n%s", name, resp.StatusCode, why, e.out.String())
	}
}

// BenchmarkColdStart starts each function cold under the emulator, b.N
// times, and reports medians: ns/op and first-response-ms are the time from
// the emulator's process start to the function's first response (the
// emulator's own start-up included), cold-invoke-ms the first invocation
// alone (bootstrap start, Go runtime and config init, the handler), rss-MB
// the bootstrap's VmRSS after it. The functions run on a table in
// dynalite on loopback and the local analyzer; the store is not contacted
// before the first request.
func BenchmarkColdStart(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("the Lambda Runtime Interface Emulator runs only on Linux")
	}
	bins := buildFunctions(b, runtime.GOARCH)
	events := map[string][]byte{
		"create":  mustJSON(b, sampleEvent(b, "create")),
		"get":     mustJSON(b, sampleEvent(b, "get")),
		"health":  mustJSON(b, sampleEvent(b, "health")),
		"process": mustJSON(b, sampleEvent(b, "process-direct")),
		"web":     mustJSON(b, sampleEvent(b, "web-page")),
	}
	store := dynamoEnv(b, testenv.StartDynalite(b))
	for _, name := range lambdaFunctions {
		b.Run(name, func(b *testing.B) {
			env := map[string]string{"RECALL_CURSOR_KEY": "bench", "RECALL_LOG_LEVEL": "error",
				"RECALL_OIDC_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI", "RECALL_OIDC_CLIENT_ID": "4example5client6id7",
				"RECALL_OIDC_TOKEN_ENDPOINT": "https://recall-123456789012.auth.us-east-1.amazoncognito.com/oauth2/token"}
			if name != "web" {
				maps.Copy(env, store)
			}
			var firsts, colds, rss []float64
			for b.Loop() {
				e := startEmulator(b, name, bins[name], env)
				start := time.Now()
				e.invokeRaw(b, events[name])
				now := time.Now()
				firsts = append(firsts, ms(now.Sub(e.started)))
				colds = append(colds, ms(now.Sub(start)))
				rss = append(rss, float64(e.rssKB())/1024)
				e.stop()
			}
			b.ReportMetric(median(firsts)*1e6, "ns/op")
			b.ReportMetric(median(firsts), "first-response-ms")
			b.ReportMetric(median(colds), "cold-invoke-ms")
			b.ReportMetric(median(rss), "rss-MB")
		})
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

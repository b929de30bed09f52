package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"recall/internal/auth"
)

// jwtSecret is the HS256 secret every recall process of the suite verifies
// tokens with, so the tests can mint (and forge) tokens themselves.
const jwtSecret = "chaos-suite-secret-0123456789abcdef-0123456789abcdef"

// proc is one run of a process; a restart is a new proc. Its output goes to
// a file in the scenario's log directory, which outlives the process, so the
// logs of every incarnation can be read after a SIGKILL.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	started time.Time
	exited  time.Time
}

// startProc starts bin with args and env, its output in dir/name.log.
func startProc(t *testing.T, dir, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	setDeathSignal(p.cmd)
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		p.exited = time.Now()
		fmt.Fprintf(f, "[chaos] %s exited after %s: %v\n", name, p.exited.Sub(p.started).Round(time.Millisecond), err)
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// signal sends sig; a process that has already exited is left alone.
func (p *proc) signal(sig os.Signal) {
	if p.running() {
		p.cmd.Process.Signal(sig)
	}
}

// kill ends the process with SIGKILL, like a crash, and waits for it.
func (p *proc) kill() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// wait waits up to d for the process to exit and reports whether it did.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// exitCode is the exit status, or -1 when killed by a signal or running.
func (p *proc) exitCode() int {
	if p.running() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) logs() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// tail is the end of the log, for failure messages.
func (p *proc) tail() string {
	l := p.logs()
	if len(l) > 4000 {
		l = "…" + l[len(l)-4000:]
	}
	return l
}

// waitLog waits until the log contains s, failing if the process exits or
// within passes first.
func (p *proc) waitLog(s string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if strings.Contains(p.logs(), s) {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited before logging %q:\n%s", p.name, s, p.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not log %q within %s:\n%s", p.name, s, within, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scenario is one chaos scenario: its processes (every incarnation, for the
// log checks), its environment and the result row it reports.
type scenario struct {
	t     *testing.T
	dir   string
	mu    sync.Mutex
	procs []*proc
	seq   map[string]int
	res   *result
	// allDone makes account fail on any failed conversation: only the
	// model scenario has analyses that are meant to fail.
	allDone bool
}

// newScenario starts a scenario whose row is added to the final table when
// the test ends, marked failed if the test failed.
func newScenario(t *testing.T, name string) *scenario {
	t.Helper()
	needProcesses(t)
	dir := filepath.Join(runDir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, dir: dir, seq: map[string]int{}, res: &result{Name: name}, allDone: true}
	start := time.Now()
	t.Cleanup(func() {
		// Registered first, so it runs after every process has stopped.
		s.res.Took = time.Since(start)
		s.res.Broken = t.Failed()
		record(s.res)
		if !t.Failed() && os.Getenv("RECALL_CHAOS_KEEP") == "" {
			os.RemoveAll(dir)
		}
	})
	return s
}

// start runs the recall binary with args; name numbers incarnations
// ("worker-1", "worker-2", …).
func (s *scenario) start(name string, env []string, args ...string) *proc {
	s.t.Helper()
	s.mu.Lock()
	s.seq[name]++
	full := fmt.Sprintf("%s-%d", name, s.seq[name])
	s.mu.Unlock()
	p := startProc(s.t, s.dir, full, env, binary, args...)
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p
}

// serve starts `recall serve` on addr (with extra flags) and waits until its
// health answers 200.
func (s *scenario) serve(addr string, env []string, flags ...string) *proc {
	s.t.Helper()
	args := append([]string{"serve", "--addr", addr}, flags...)
	p := s.start("serve", env, args...)
	if err := waitHealthy(p, "http://"+addr, 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// worker starts `recall worker` and waits until it is taking jobs.
func (s *scenario) worker(env []string) *proc {
	s.t.Helper()
	p := s.start("worker", env, "worker", "--grace", "5s")
	if err := p.waitLog(`"recall worker running"`, 30*time.Second); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// logs scans every process the scenario started.
func (s *scenario) logs() logStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	paths := make([]string, len(s.procs))
	for i, p := range s.procs {
		paths[i] = p.logPath
	}
	return scanLogs(paths...)
}

// checkLogs fails the test on any panic or HTTP 500 in any process log and
// copies the counts into the result row.
func (s *scenario) checkLogs(ls logStats) {
	s.t.Helper()
	s.res.HTTP500, s.res.Panics = ls.status[500], len(ls.panics)
	if len(ls.panics) > 0 {
		s.t.Errorf("%d panic or fatal lines in the process logs, first: %s", len(ls.panics), ls.panics[0])
	}
	if n := ls.status[500]; n > 0 {
		s.t.Errorf("%d requests answered 500", n)
	}
}

func waitHealthy(p *proc, base string, within time.Duration) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := hc.Get(base + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !p.running() {
			return fmt.Errorf("%s exited at start (code %d):\n%s", p.name, p.exitCode(), p.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy within %s (last: %v):\n%s", p.name, within, err, p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recallEnv is the environment of every recall process: the caller's,
// without any Recall, AWS or backend setting that would change what runs,
// plus JSON logs and the suite's secret; extra settings come last and win.
func recallEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "RECALL_") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BEDROCK_") ||
			strings.HasPrefix(k, "DYNAMODB_") || k == "REDIS_URL" {
			continue
		}
		env = append(env, kv)
	}
	// The scenarios load one owner far past normal use; the per-owner
	// limits, which would refuse that, have tests of their own.
	env = append(env, "RECALL_OWNER_RPS=0", "RECALL_LOG_FORMAT=json", "RECALL_JWT_SECRET="+jwtSecret,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	return append(env, extra...)
}

// dynamoEnv points a process at a DynamoDB-API endpoint with dummy keys.
func dynamoEnv(endpoint, table string) []string {
	return []string{"DYNAMODB_TABLE=" + table, "RECALL_CREATE_TABLE=1", "AWS_ENDPOINT_URL_DYNAMODB=" + endpoint,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=chaos", "AWS_SECRET_ACCESS_KEY=chaos"}
}

// token mints a valid token for owner.
func token(t *testing.T, owner string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(jwtSecret), owner, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// freeAddr returns a loopback host:port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dynalite is a DynamoDB-API server. With its tables on disk (LevelDB) it can
// be killed and started again with its data: what the store-outage scenario
// needs and testenv's in-memory one cannot give.
type dynalite struct {
	t    *testing.T
	dir  string
	port string
	logs string
	p    *proc
	n    int
}

// startDynalite starts dynalite on a free port, its tables on disk (so a
// restart keeps them) unless inMemory, and waits until it answers. The
// suite runs its own rather than testenv's so that its output and exit
// status are in the scenario's logs.
func startDynalite(t *testing.T, logDir string, inMemory bool) *dynalite {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	d := &dynalite{t: t, port: port, logs: logDir}
	if !inMemory {
		d.dir = t.TempDir()
	}
	d.Start()
	return d
}

// Endpoint is the URL clients use; it stays the same across restarts.
func (d *dynalite) Endpoint() string { return "http://127.0.0.1:" + d.port }

// Start (re)starts the server on the same port and data directory.
func (d *dynalite) Start() {
	d.t.Helper()
	cli := filepath.Join(repoRoot, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		d.t.Fatalf("dynalite is not installed (%v): run npm ci at the repo root (make deps)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		d.t.Fatalf("node is needed to run dynalite: %v", err)
	}
	var lastErr error
	for range 50 { // the old socket may linger a moment after a kill
		d.n++
		args := []string{filepath.Join(repoRoot, "internal", "chaos", "testdata", "dynalite.js"), cli, "--host", "127.0.0.1", "--port", d.port, "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
		if d.dir != "" {
			args = append(args, "--path", filepath.Join(d.dir, "db"))
		}
		d.p = startProc(d.t, d.logs, fmt.Sprintf("dynalite-%d", d.n), os.Environ(), node, args...)
		if lastErr = d.waitReady(15 * time.Second); lastErr == nil {
			return
		}
		d.p.kill()
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Fatalf("dynalite on port %s did not start: %v", d.port, lastErr)
}

// Kill ends the server with SIGKILL.
func (d *dynalite) Kill() { d.p.kill() }

func (d *dynalite) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint(), strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if !d.p.running() {
			return errors.New("exited: " + strings.TrimSpace(d.p.logs()))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rss reads a process's resident set size and its peak, in MiB, from
// /proc; ok is false where there is no /proc.
func rss(p *proc) (cur, peak float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var kb float64
		if n, _ := fmt.Sscanf(string(line), "VmRSS: %f kB", &kb); n == 1 {
			cur = kb / 1024
		}
		if n, _ := fmt.Sscanf(string(line), "VmHWM: %f kB", &kb); n == 1 {
			peak = kb / 1024
		}
	}
	return cur, peak, cur > 0
}

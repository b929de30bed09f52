// Package testenv starts the real servers integration tests run against, on
// free loopback ports, and stops them with t.Cleanup. A server that cannot
// start fails the test rather than skipping it, so a green run always means
// the backend was exercised.
package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisTestURLEnv names the variable that points the tests at an existing
// Redis instead of starting one. That server is flushed at the start of every
// test that asks for it, so never point it at data you want to keep.
const RedisTestURLEnv = "REDIS_TEST_URL"

const redisInstallHint = "install redis-server (apt-get install -y redis-server)"

// RedisServer is one Redis the test owns (or, with REDIS_TEST_URL, borrows).
type RedisServer struct {
	t        testing.TB
	external string // the REDIS_TEST_URL in use, if any
	port     int
	dir      string
	args     []string

	mu   sync.Mutex
	proc *proc // nil while stopped
}

type redisConfig struct {
	appendOnly bool
	dir        string
}

// RedisOption configures StartRedis.
type RedisOption func(*redisConfig)

// WithAppendOnly turns on the append-only file with an fsync on every write,
// so a test can stop and restart the server and find every acknowledged
// write. It always starts a server the test owns, ignoring REDIS_TEST_URL.
func WithAppendOnly() RedisOption { return func(c *redisConfig) { c.appendOnly = true } }

// WithDir sets the server's working directory (where the AOF lives); the
// default is a fresh t.TempDir. It implies a server the test owns.
func WithDir(dir string) RedisOption { return func(c *redisConfig) { c.dir = dir } }

// StartRedis returns a running, empty Redis for t. With REDIS_TEST_URL set
// (and no option that needs an owned server) it flushes that server and uses
// it; otherwise it starts redis-server on a free loopback port without
// persistence (unless WithAppendOnly) and kills it when t ends.
func StartRedis(t testing.TB, opts ...RedisOption) *RedisServer {
	t.Helper()
	SkipShort(t, "starts redis-server")
	var cfg redisConfig
	for _, o := range opts {
		o(&cfg)
	}
	if u := os.Getenv(RedisTestURLEnv); u != "" && !cfg.appendOnly && cfg.dir == "" {
		s := &RedisServer{t: t, external: u}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.do(ctx, "FLUSHALL"); err != nil {
			t.Fatalf("testenv: flush %s=%s: %v", RedisTestURLEnv, redactURL(u), err)
		}
		return s
	}
	bin := redisBinary(t, "redis-server")
	dir := cfg.dir
	if dir == "" {
		dir = t.TempDir()
	}
	args := []string{"--bind", "127.0.0.1", "--save", "", "--dir", dir, "--logfile", "", "--daemonize", "no"}
	if cfg.appendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s := &RedisServer{t: t, dir: dir, args: append([]string{bin}, args...)}
	t.Cleanup(s.kill)
	var err error
	for range 5 { // a free port can be taken between probe and bind
		s.port = freePort(t, false)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("testenv: start redis-server: %v", err)
	return nil
}

// Addr is the host:port clients dial.
func (s *RedisServer) Addr() string {
	if s.external != "" {
		u, err := url.Parse(s.external)
		if err == nil {
			return u.Host
		}
		return s.external
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is a redis:// URL for the server, database 0.
func (s *RedisServer) URL() string {
	if s.external != "" {
		return s.external
	}
	return "redis://" + s.Addr() + "/0"
}

// Client returns a go-redis client for the server, closed when the test ends.
func (s *RedisServer) Client() *redis.Client {
	s.t.Helper()
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		s.t.Fatalf("testenv: parse redis url: %v", err)
	}
	c := redis.NewClient(opt)
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Stop shuts the server down the way an operator would (SIGTERM, which
// flushes the AOF) and waits for it to exit. Restart brings it back.
func (s *RedisServer) Stop() {
	s.t.Helper()
	s.mustOwn("Stop")
	if p := s.take(); p != nil {
		p.stop(syscall.SIGTERM, 10*time.Second)
	}
}

// Kill ends the server with SIGKILL, like a crash; Restart brings it back.
func (s *RedisServer) Kill() {
	s.t.Helper()
	s.mustOwn("Kill")
	s.kill()
}

// Restart starts the stopped (or running) server again on the same port and
// directory, so clients reconnect to the same address and an AOF is replayed.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.mustOwn("Restart")
	s.Stop()
	var err error
	for range 50 { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("testenv: restart redis-server on port %d: %v", s.port, err)
}

func (s *RedisServer) mustOwn(what string) {
	s.t.Helper()
	if s.external != "" {
		s.t.Fatalf("testenv: %s needs a server the test owns; use WithAppendOnly or WithDir, or unset %s", what, RedisTestURLEnv)
	}
}

func (s *RedisServer) take() *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	s.proc = nil
	return p
}

func (s *RedisServer) kill() {
	if p := s.take(); p != nil {
		p.stop(os.Kill, 0)
	}
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *RedisServer) start() error {
	args := append(append([]string{}, s.args[1:]...), "--port", strconv.Itoa(s.port))
	p, err := startProcess(s.args[0], s.dir, args)
	if err != nil {
		return err
	}
	if err := p.waitReady(s.Addr()); err != nil {
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// do runs one command against the server with a throwaway client.
func (s *RedisServer) do(ctx context.Context, args ...any) error {
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		return err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	return c.Do(ctx, args...).Err()
}

// RedisCluster is a three-node Redis Cluster (masters only) the test owns.
type RedisCluster struct {
	nodes []*RedisServer
}

// StartRedisCluster starts three redis-server nodes in cluster mode on free
// loopback ports, joins them with redis-cli --cluster create, waits for
// cluster_state:ok on every node and kills them when t ends.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	SkipShort(t, "starts a three-node Redis Cluster")
	bin := redisBinary(t, "redis-server")
	cli := redisBinary(t, "redis-cli")
	c := &RedisCluster{}
	for range 3 {
		dir := t.TempDir()
		s := &RedisServer{t: t, dir: dir, args: []string{bin,
			"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "",
			"--daemonize", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000"}}
		t.Cleanup(s.kill)
		var err error
		for range 5 {
			s.port = freePort(t, true) // the cluster bus listens on port+10000
			if err = s.start(); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("testenv: start cluster node: %v", err)
		}
		c.nodes = append(c.nodes, s)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range c.nodes {
		rc := redis.NewClient(&redis.Options{Addr: s.Addr()})
		for {
			info, err := rc.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				rc.Close()
				t.Fatalf("testenv: cluster node %s never reached cluster_state:ok: %v %s", s.Addr(), err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rc.Close()
	}
	return c
}

// Addrs lists the nodes' host:port addresses.
func (c *RedisCluster) Addrs() []string {
	var addrs []string
	for _, s := range c.nodes {
		addrs = append(addrs, s.Addr())
	}
	return addrs
}

// Client returns a go-redis cluster client, closed when the test ends.
func (c *RedisCluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { rc.Close() })
	return rc
}

// redisBinary finds name on PATH or fails t with how to install it.
func redisBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testenv: %s not found: %s", name, redisInstallHint)
	}
	return p
}

var portMu sync.Mutex

// freePort returns a loopback port nothing listens on; with bus it also
// checks port+10000, which a cluster node needs for its bus.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(25000)
		if !bus {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("testenv: find a free port: %v", err)
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
			return port
		}
		if portFree(port) && portFree(port+10000) {
			return port
		}
	}
	t.Fatal("testenv: no free port pair for a cluster node")
	return 0
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// proc is one running server process; done closes when it has exited.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startProcess starts bin in dir with its output captured for error reports.
func startProcess(bin, dir string, args []string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out := &syncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop signals the process and waits for it, killing it after grace.
func (p *proc) stop(sig os.Signal, grace time.Duration) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady waits until the server at addr answers PING, or its process
// exits, or 15 seconds pass.
func (p *proc) waitReady(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("redis-server on %s exited: %s", addr, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.stop(os.Kill, 0)
	return fmt.Errorf("redis-server on %s did not answer PING in 15s: %s", addr, p.out.String())
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

package testenv_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/testenv"
)

func TestStartRedis(t *testing.T) {
	t.Parallel()
	s := testenv.StartRedis(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if !strings.HasPrefix(s.URL(), "redis://") || !strings.Contains(s.URL(), s.Addr()) {
		t.Errorf("URL() = %q, want a redis:// URL naming %s", s.URL(), s.Addr())
	}
	// Every StartRedis is a clean, separate server.
	other := testenv.StartRedis(t).Client()
	if n, err := other.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("second server sees key k: %d, %v", n, err)
	}
}

// TestRedisRestart checks the AOF survives both a clean stop and a crash,
// and that the server comes back on the same address.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	s := testenv.StartRedis(t, testenv.WithAppendOnly())
	addr := s.Addr()
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "before-stop", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := c.Ping(pctx).Err()
	cancel()
	if err == nil {
		t.Fatal("PING answered while the server was stopped")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr(), addr)
	}
	if v, err := c.Get(ctx, "before-stop").Result(); err != nil || v != "1" {
		t.Fatalf("after restart GET = %q, %v; want the value written before Stop", v, err)
	}
	if err := c.Set(ctx, "before-kill", "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	s.Restart()
	if v, err := c.Get(ctx, "before-kill").Result(); err != nil || v != "2" {
		t.Fatalf("after a crash GET = %q, %v; want the value written before Kill", v, err)
	}
}

func TestStartRedisCluster(t *testing.T) {
	t.Parallel()
	cl := testenv.StartRedisCluster(t)
	if n := len(cl.Addrs()); n != 3 {
		t.Fatalf("cluster has %d nodes, want 3", n)
	}
	c := cl.Client(t)
	ctx := context.Background()
	// Keys spread over every slot range, so all three masters answer.
	for i := range 50 {
		k := fmt.Sprintf("key-%d", i)
		if err := c.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var mu sync.Mutex
	holding := 0
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if n > 0 {
			holding++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("DBSIZE on masters: %v", err)
	}
	if holding != 3 {
		t.Errorf("%d of 3 masters hold keys, want all: slots not spread", holding)
	}
}

// fatalRecorder stands in for a test to see what StartRedis fails with.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func TestStartRedisMissingBinary(t *testing.T) {
	testenv.SkipShort(t, "looks for redis-server")
	t.Setenv("PATH", t.TempDir())
	t.Setenv(testenv.RedisTestURLEnv, "")
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testenv.StartRedis(r)
	}()
	<-done
	if !strings.Contains(r.msg, "apt-get install -y redis-server") {
		t.Errorf("StartRedis without redis-server failed with %q, want the install hint", r.msg)
	}
}

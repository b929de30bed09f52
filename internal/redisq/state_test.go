package redisq_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

// TestState pins the compare-and-swap contract (the same cases as
// ratelimit.MemoryState) on a single Redis and on a cluster.
func TestState(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name  string
		start func(t *testing.T) redis.UniversalClient
	}{
		{"single", func(t *testing.T) redis.UniversalClient { return client(t, testenv.StartRedis(t).URL()) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return client(t, clusterURL(testenv.StartRedisCluster(t))) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			c := b.start(t)
			ctx := ctxT(t)
			prefix := uniquePrefix()
			s := redisq.NewState(c, prefix)
			if got, want := s.Key("limit:m"), "{"+prefix+"}:limit:m"; got != want {
				t.Errorf("Key = %q, want %q", got, want)
			}
			cas := func(old, v string, ttl time.Duration) bool {
				t.Helper()
				var o []byte
				if old != "" {
					o = []byte(old)
				}
				ok, err := s.CompareAndSwap(ctx, "limit:m", o, []byte(v), ttl)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if v, err := s.Load(ctx, "limit:m"); v != nil || err != nil {
				t.Fatalf("Load on empty = %q, %v", v, err)
			}
			if cas("x", "a", time.Minute) {
				t.Error("swap expecting x on an empty key succeeded")
			}
			if !cas("", "a", time.Minute) {
				t.Error("swap expecting nothing on an empty key failed")
			}
			if cas("", "b", time.Minute) {
				t.Error("swap expecting nothing on a set key succeeded")
			}
			if !cas("a", "b", 1500*time.Millisecond) {
				t.Error("swap expecting the current value failed")
			}
			if v, err := s.Load(ctx, "limit:m"); string(v) != "b" || err != nil {
				t.Errorf("Load = %q, %v; want b", v, err)
			}
			if ttl, err := c.PTTL(ctx, s.Key("limit:m")).Result(); err != nil || ttl <= time.Second || ttl > 1500*time.Millisecond {
				t.Errorf("PTTL = %s, %v; want the 1.5s the last swap gave", ttl, err)
			}
			if _, err := s.CompareAndSwap(ctx, "limit:m", []byte("b"), nil, time.Minute); recall.ErrorCode(err) != recall.EINVALID {
				t.Errorf("swap to an empty value = %v, want EINVALID", err)
			}
		})
	}
}

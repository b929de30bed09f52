package redisq_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

func analysis(summary string) recall.Analysis {
	return recall.Analysis{
		Summary: summary, ActionItems: []string{"Bob sends the report by Friday"},
		Keywords: []string{"report", "build"}, Model: "us.anthropic.claude-haiku-4-5-20251001-v1:0",
		Usage: recall.Usage{InputTokens: 512, OutputTokens: 64}, Calls: 1,
	}
}

// onEachTopology runs fn, in parallel subtests, against a single Redis and
// against a three-node cluster: keys that must share a slot (or must not)
// only show it on a cluster.
func onEachTopology(t *testing.T, fn func(t *testing.T, c redis.UniversalClient)) {
	t.Helper()
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
			fn(t, b.start(t))
		})
	}
}

// clusterURL is a cluster client URL naming every node.
func clusterURL(cl *testenv.RedisCluster) string {
	addrs := cl.Addrs()
	return "redis://" + addrs[0] + "?cluster=true&addr=" + addrs[1] + "&addr=" + addrs[2]
}

func TestCache(t *testing.T) {
	t.Parallel()
	onEachTopology(t, func(t *testing.T, c redis.UniversalClient) {
		ctx := ctxT(t)
		cache := redisq.NewCache(c, uniquePrefix())

		if _, ok, err := cache.Get(ctx, "absent"); ok || err != nil {
			t.Fatalf("Get(absent) = ok %v, err %v; want a plain miss", ok, err)
		}
		want := analysis("Bob will send the report.")
		if err := cache.Put(ctx, "k1", want, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, ok, err := cache.Get(ctx, "k1")
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("Get(k1) = %+v, %v, %v; want %+v", got, ok, err, want)
		}

		// Every entry expires: the ttl asked for, or the fallback.
		for _, tt := range []struct {
			key      string
			ttl, max time.Duration
		}{
			{"ttl", time.Hour, time.Hour},
			{"sub-second", 1500 * time.Millisecond, 1500 * time.Millisecond},
			{"none", 0, redisq.CacheFallbackTTL},
			{"negative", -time.Second, redisq.CacheFallbackTTL},
		} {
			if err := cache.Put(ctx, tt.key, want, tt.ttl); err != nil {
				t.Fatal(err)
			}
			pttl, err := c.PTTL(ctx, cache.Key(tt.key)).Result()
			if err != nil || pttl <= 0 || pttl > tt.max || pttl < tt.max-time.Minute {
				t.Errorf("%s: PTTL %s (%v), want about %s", tt.key, pttl, err, tt.max)
			}
		}

		// A short ttl really expires (PEXPIRE semantics, not our clock).
		if err := cache.Put(ctx, "short", want, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, ok, err := cache.Get(ctx, "short")
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an entry with a 1ms ttl was still there after 5s")
			}
			time.Sleep(5 * time.Millisecond)
		}

		// An undecodable entry is an error (the analyzer logs it and
		// treats it as a miss), and the next Put repairs it.
		if err := c.Set(ctx, cache.Key("bad"), "{not json", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := cache.Get(ctx, "bad"); ok || err == nil {
			t.Errorf("Get(bad) = ok %v, err %v; want an error", ok, err)
		}
		if err := cache.Put(ctx, "bad", want, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := cache.Get(ctx, "bad"); !ok || err != nil {
			t.Errorf("Get(bad) after Put = ok %v, err %v", ok, err)
		}
	})
}

// TestCacheKeysSpreadOverSlots checks cache keys carry no hash tag: on a
// cluster, entries land on many slots and every node, not the queue's one.
func TestCacheKeysSpreadOverSlots(t *testing.T) {
	t.Parallel()
	cl := testenv.StartRedisCluster(t)
	c := client(t, clusterURL(cl))
	ctx := ctxT(t)
	prefix := uniquePrefix()
	cache := redisq.NewCache(c, prefix)
	if k := cache.Key("x"); strings.ContainsAny(k, "{}") {
		t.Fatalf("cache key %q has a hash tag", k)
	}
	slots := map[int64]bool{}
	for i := range 30 {
		key := fmt.Sprintf("%064x", i)
		if err := cache.Put(ctx, key, analysis("s"), time.Minute); err != nil {
			t.Fatal(err)
		}
		s, err := c.ClusterKeySlot(ctx, cache.Key(key)).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots[s] = true
	}
	if len(slots) < 20 {
		t.Errorf("30 entries on %d slots; want them spread", len(slots))
	}
	var perNode atomic.Int32 // ForEachMaster runs concurrently
	err := c.(*redis.ClusterClient).ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		keys, err := n.Keys(ctx, prefix+":cache:*").Result()
		if len(keys) > 0 {
			perNode.Add(1)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := perNode.Load(); n != 3 {
		t.Errorf("entries on %d of 3 nodes", n)
	}
}

// TestCacheRedisDown checks a cache outage fails fast with EUNAVAILABLE,
// which the analyzer logs and treats as a miss.
func TestCacheRedisDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithAppendOnly())
	c := client(t, srv.URL())
	ctx := ctxT(t)
	cache := redisq.NewCache(c, uniquePrefix())
	if err := cache.Put(ctx, "k", analysis("s"), time.Hour); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	start := time.Now()
	if _, ok, err := cache.Get(ctx, "k"); ok || recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Errorf("Get with Redis down = ok %v, err %v; want EUNAVAILABLE", ok, err)
	}
	if err := cache.Put(ctx, "k", analysis("s"), time.Hour); recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Errorf("Put with Redis down = %v; want EUNAVAILABLE", err)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("failing took %s", took)
	}
	srv.Restart()
	if _, ok, err := cache.Get(ctx, "k"); !ok || err != nil {
		t.Errorf("Get after restart = ok %v, err %v", ok, err)
	}
}

// BenchmarkCacheGetHit is the price of a cache hit: one GET and a JSON
// decode of a typical analysis, against a local redis-server.
func BenchmarkCacheGetHit(b *testing.B) {
	c, err := redisq.NewClient(testenv.StartRedis(b).URL(), redisq.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	cache := redisq.NewCache(c, "bench")
	ctx := context.Background()
	if err := cache.Put(ctx, "k", analysis("Bob will send the report by Friday; the build needs fixing first."), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := cache.Get(ctx, "k"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

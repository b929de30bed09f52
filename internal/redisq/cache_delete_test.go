package redisq_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/redisq"
	"recall/internal/testenv"
)

// TestCacheDelete: Delete removes the entries named, on one server and on a
// cluster, where the keys fall on different slots; absent keys are no
// error, and other entries stay.
func TestCacheDelete(t *testing.T) {
	t.Parallel()
	for name, start := range map[string]func(t *testing.T) redis.UniversalClient{
		"single":  func(t *testing.T) redis.UniversalClient { return client(t, testenv.StartRedis(t).URL()) },
		"cluster": func(t *testing.T) redis.UniversalClient { return client(t, clusterURL(testenv.StartRedisCluster(t))) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			cache := redisq.NewCache(start(t), uniquePrefix())
			for i := range 6 {
				if err := cache.Put(ctx, fmt.Sprint("k", i), analysis(fmt.Sprint("entry ", i)), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if err := cache.Delete(ctx, "k0", "k2", "k4", "absent"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			for i := range 6 {
				_, ok, err := cache.Get(ctx, fmt.Sprint("k", i))
				if err != nil || ok != (i%2 == 1) {
					t.Errorf("k%d: held %v, %v; want held %v", i, ok, err, i%2 == 1)
				}
			}
		})
	}
}

package redisq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
)

// CacheFallbackTTL is the expiry a cache entry gets when Put is asked for
// none. Every cache key carries a TTL on purpose: under a volatile-*
// eviction policy (ElastiCache's default; ElastiCache Serverless, too, evicts
// only keys with a TTL, least recently used first, once it reaches its data
// storage maximum) only keys with a TTL are evicted, so cache entries are
// the first to go (the limiter's keys also carry one but are touched on
// every call) and the queue's keys, which carry none, are never touched. A
// cache key without a TTL would compete with the queue for memory forever.
const CacheFallbackTTL = 30 * 24 * time.Hour

// Cache stores finished analyses in Redis, shared by every worker, so an
// identical conversation analysed by any of them costs no tokens on any
// other. It has the Get/Put/Delete shape the Bedrock analyzer's cache takes.
//
// Layout. Each entry is one string key, <prefix>:cache:<sha256 hex>, holding
// the JSON of a recall.Analysis, written with SET … PX ttl. Unlike the
// queue's keys, cache keys carry no hash tag: every cache command touches
// one key, so there is nothing to keep together, and on a cluster (or
// ElastiCache Serverless) the entries spread over every slot instead of
// piling onto the node that holds the queue.
//
// Failures. Get and Put return Redis's errors classified as Recall's codes
// (EUNAVAILABLE while it is down; an undecodable entry is an error too);
// the analyzer logs them and treats a failed Get as a miss and a failed Put
// as nothing, so a cache outage costs tokens, never an analysis. An
// undecodable entry is overwritten by the Put that follows the miss.
type Cache struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewCache returns a cache on client whose keys start with prefix
// (DefaultPrefix when empty). Deployments sharing one Redis use different
// prefixes, as for the queue. It does no I/O.
func NewCache(client redis.UniversalClient, prefix string) *Cache {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Cache{rdb: client, prefix: prefix + ":cache:"}
}

// Key is the Redis key an entry under key lives at, for operators and tests.
func (c *Cache) Key(key string) string { return c.prefix + key }

// Get returns the analysis stored under key (ok=false when there is none
// or it expired): one GET.
func (c *Cache) Get(ctx context.Context, key string) (recall.Analysis, bool, error) {
	b, err := c.rdb.Get(ctx, c.Key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return recall.Analysis{}, false, nil
	}
	if err != nil {
		return recall.Analysis{}, false, redisErr(err, "cache get %s", key)
	}
	var a recall.Analysis
	if err := json.Unmarshal(b, &a); err != nil {
		return recall.Analysis{}, false, fmt.Errorf("redisq: cache get %s: undecodable entry: %w", key, err)
	}
	return a, true, nil
}

// Put stores a under key for ttl: one SET with a TTL (CacheFallbackTTL
// when ttl <= 0; see there for why every entry expires).
func (c *Cache) Put(ctx context.Context, key string, a recall.Analysis, ttl time.Duration) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("redisq: cache put %s: encode: %w", key, err)
	}
	if ttl <= 0 {
		ttl = CacheFallbackTTL
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	if err := c.rdb.Set(ctx, c.Key(key), b, ttl).Err(); err != nil {
		return redisErr(err, "cache put %s", key)
	}
	return nil
}

// Delete removes the entries under keys: one DEL per key, since cache keys
// carry no hash tag and so may sit on different cluster slots.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := c.rdb.Del(ctx, c.Key(k)).Err(); err != nil {
			return redisErr(err, "cache delete %s", k)
		}
	}
	return nil
}

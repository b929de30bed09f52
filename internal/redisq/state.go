package redisq

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
)

// State is a set of small compare-and-set registers in Redis: a value
// under a key that a caller replaces only if it still holds what the caller
// read. It knows nothing of what the values mean; package ratelimit keeps
// its buckets in them (the Bedrock pacing in {prefix}:limit:<model>, the
// per-owner limits in {prefix}:owner-…), doing the arithmetic in Go and
// only the swap here, so every process limits against one budget.
//
// Each key is one string, carrying the hash tag like the queue's keys, and
// the TTL its writer gives: a writer's state that has become the same as
// no state at all should expire rather than stay forever.
type State struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewState returns the registers on client under prefix (DefaultPrefix
// when empty). It does no I/O.
func NewState(client redis.UniversalClient, prefix string) *State {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &State{rdb: client, prefix: "{" + prefix + "}:"}
}

// Key is the Redis key of register key.
func (s *State) Key(key string) string { return s.prefix + key }

// Load returns the value of key, or nil when it has none. Errors are
// Redis's, classified (EUNAVAILABLE while it is down).
func (s *State) Load(ctx context.Context, key string) ([]byte, error) {
	v, err := s.rdb.Get(ctx, s.Key(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, redisErr(err, "load %s", key)
	}
	return v, nil
}

// CompareAndSwap sets key to value for ttl if it still holds old (nil or
// empty old: if it holds nothing), in one atomic script, and reports
// whether it did. Values must not be empty (EINVALID). Errors are Redis's,
// classified (EUNAVAILABLE while it is down).
func (s *State) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if len(value) == 0 {
		return false, recall.Errorf(recall.EINVALID, "redisq: state %s: empty value", key)
	}
	ok, err := casScript.Run(ctx, s.rdb, []string{s.Key(key)}, old, value, max(ttl.Milliseconds(), 1)).Bool()
	if err != nil {
		return false, redisErr(err, "compare and swap %s", key)
	}
	return ok, nil
}

// casScript replaces KEYS[1] with ARGV[2] for ARGV[3] ms if it holds
// ARGV[1] (an empty ARGV[1]: if it holds nothing). Returns 1 when it did,
// 0 otherwise.
var casScript = redis.NewScript(`
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

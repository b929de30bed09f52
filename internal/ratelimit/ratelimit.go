// Package ratelimit is Recall's token-bucket arithmetic, written once: the
// Bedrock analyzer paces model calls under the account's quotas with it
// (bedrock.RateLimiter), and the API limits what each owner may ask for
// (Owners). Buckets live in a State, a compare-and-swap register that
// stores bytes and knows nothing of what they mean: MemoryState within one
// process, a Redis register (redisq.State) for a fleet. Every operation
// reads the buckets, computes here, and swaps them back only if nobody
// changed them in between, so no store needs arithmetic of its own and no
// rule is written twice.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"recall/internal/recall"
)

// State keeps buckets where every limiter sharing a budget sees them.
// Implementations must be safe for concurrent use.
type State interface {
	// Load returns the value stored under key, or nil when there is none
	// (never set, or expired).
	Load(ctx context.Context, key string) ([]byte, error)
	// CompareAndSwap stores value under key for ttl if key still holds old
	// (nil old: if key holds nothing) and reports whether it did.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
}

// Rate is one bucket's rule: it holds at most Burst and refills
// continuously at N per Per. A Rate with N 0 is no limit: its bucket never
// makes anyone wait.
type Rate struct {
	N     float64
	Per   time.Duration
	Burst float64
}

// Buckets is a set of token buckets (one per Rate, in order) kept together
// under each key of a State: the Bedrock limiter's requests and tokens per
// minute for a model, or one owner's requests per second. A reservation
// may drive a bucket below zero, and the caller then waits until it is
// back at zero; a clock behind the last writer's refills nothing until it
// catches up, so clock skew between processes never hands out quota twice.
type Buckets struct {
	rates []Rate
	state State
	now   func() time.Time
	// mus keep this process's own callers from racing each other on one
	// key's state, so they queue rather than lose swaps; races against
	// other processes are settled by CompareAndSwap. A key takes the mutex
	// its hash picks, so callers on different keys (one owner and another)
	// do not wait out each other's round trips to the state.
	mus  [keyLocks]sync.Mutex
	seed maphash.Seed
}

// keyLocks is how many mutexes the keys of one Buckets share.
const keyLocks = 64

// lockOf is the mutex of key.
func (b *Buckets) lockOf(key string) *sync.Mutex {
	return &b.mus[maphash.String(b.seed, key)%keyLocks]
}

// maxSwaps bounds how often one operation retries after another process
// changed the buckets between its read and its write.
const maxSwaps = 16

// New returns buckets with these rates over state (a fresh MemoryState when
// nil), read at now (time.Now when nil). It does no I/O.
func New(state State, now func() time.Time, rates ...Rate) *Buckets {
	if now == nil {
		now = time.Now
	}
	if state == nil {
		state = NewMemoryStateAt(now)
	}
	return &Buckets{rates: rates, state: state, now: now, seed: maphash.MakeSeed()}
}

// Limited reports whether any bucket has a limit; when none has, callers
// can skip the state altogether.
func (b *Buckets) Limited() bool {
	for _, r := range b.rates {
		if r.N > 0 {
			return true
		}
	}
	return false
}

// Levels is what the buckets under one key hold, and when they were
// computed.
type Levels struct {
	L  []float64
	At time.Time
}

// full is the state of buckets nobody has touched: no key at all.
func (b *Buckets) full(now time.Time) Levels {
	l := Levels{L: make([]float64, len(b.rates)), At: now}
	for i, r := range b.rates {
		l.L[i] = r.Burst
	}
	return l
}

// refilled adds what the buckets earned since l.At, capped at each Burst.
// A clock behind l.At adds nothing and keeps l.At, so no interval is
// counted twice.
func (b *Buckets) refilled(l Levels, now time.Time) Levels {
	if el := now.Sub(l.At); el > 0 {
		for i, r := range b.rates {
			if r.N > 0 {
				l.L[i] += r.N * float64(el) / float64(r.Per)
			}
		}
		l.At = now
	}
	for i, r := range b.rates {
		l.L[i] = min(l.L[i], r.Burst)
	}
	return l
}

// Wait is how long until every bucket of levels is back at zero.
func (b *Buckets) Wait(levels []float64) time.Duration {
	var d time.Duration
	for i, r := range b.rates {
		if levels[i] < 0 && r.N > 0 {
			d = max(d, time.Duration(math.Ceil(-levels[i]/r.N*float64(r.Per))))
		}
	}
	return d
}

// ttl is how long levels must be kept: until every bucket is full again,
// when they are the same as no state at all.
func (b *Buckets) ttl(levels []float64) time.Duration {
	var d time.Duration
	for i, r := range b.rates {
		if r.N > 0 {
			d = max(d, time.Duration(math.Ceil((r.Burst-levels[i])/r.N*float64(r.Per))))
		}
	}
	return max(d, time.Millisecond)
}

// encode writes levels as the bucket levels and the time in Unix
// nanoseconds, separated by spaces ("req tok at" for the Bedrock limiter,
// as it always has been).
func encode(l Levels) []byte {
	var out []byte
	for _, v := range l.L {
		out = strconv.AppendFloat(out, v, 'g', -1, 64)
		out = append(out, ' ')
	}
	return strconv.AppendInt(out, l.At.UnixNano(), 10)
}

func decode(v []byte, n int) (Levels, error) {
	f := strings.Fields(string(v))
	if len(f) != n+1 {
		return Levels{}, fmt.Errorf("ratelimit: state %q: want %d fields", v, n+1)
	}
	l := Levels{L: make([]float64, n)}
	var errs []error
	for i := range n {
		var err error
		l.L[i], err = strconv.ParseFloat(f[i], 64)
		errs = append(errs, err)
	}
	at, err := strconv.ParseInt(f[n], 10, 64)
	if err := errors.Join(append(errs, err)...); err != nil {
		return Levels{}, fmt.Errorf("ratelimit: state %q: %w", v, err)
	}
	l.At = time.Unix(0, at)
	return l, nil
}

// Update applies change to the levels under key, refilled to now, and
// stores the result, retrying when another process changed them first.
// change returns false to store nothing. Update returns the levels change
// produced and whether they were stored. After maxSwaps lost races in a
// row it gives up with ETHROTTLED (RetryAfter a second).
func (b *Buckets) Update(ctx context.Context, key string, change func(levels []float64) bool) ([]float64, bool, error) {
	mu := b.lockOf(key)
	mu.Lock()
	defer mu.Unlock()
	for range maxSwaps {
		old, err := b.state.Load(ctx, key)
		if err != nil {
			return nil, false, fmt.Errorf("ratelimit: %s: %w", key, err)
		}
		now := b.now()
		l := b.full(now)
		if old != nil {
			if l, err = decode(old, len(b.rates)); err != nil {
				l = b.full(now) // unreadable: start over rather than stop limiting
			}
		}
		l = b.refilled(l, now)
		if !change(l.L) {
			return l.L, false, nil
		}
		ok, err := b.state.CompareAndSwap(ctx, key, old, encode(l), b.ttl(l.L))
		if err != nil {
			return nil, false, fmt.Errorf("ratelimit: %s: %w", key, err)
		}
		if ok {
			return l.L, true, nil
		}
	}
	return nil, false, &recall.Error{Code: recall.ETHROTTLED, RetryAfter: time.Second,
		Message: fmt.Sprintf("the shared limit %s changed under %d tries in a row; trying again shortly", key, maxSwaps)}
}

// Reserve takes cost[i] from bucket i (at most its Burst, so a cost bigger
// than a whole bucket waits for it to be full rather than forever) and
// returns how long the caller must wait before going ahead (0: at once).
// When the wait would exceed maxWait (maxWait >= 0) it takes nothing and
// reports ok=false with the wait it would have had: maxWait 0 is the
// classic token bucket that admits or refuses.
func (b *Buckets) Reserve(ctx context.Context, key string, maxWait time.Duration, cost ...float64) (wait time.Duration, ok bool, err error) {
	levels, ok, err := b.Update(ctx, key, func(l []float64) bool {
		for i, r := range b.rates {
			if r.N > 0 && i < len(cost) {
				l[i] -= min(cost[i], r.Burst)
			}
		}
		return maxWait < 0 || b.Wait(l) <= maxWait
	})
	if err != nil {
		return 0, false, err
	}
	return b.Wait(levels), ok, nil
}

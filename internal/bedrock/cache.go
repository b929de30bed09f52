package bedrock

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"recall/internal/recall"
)

// Cache stores finished analyses by key so an identical conversation of the
// same owner (same normalised title, type and content, same model, same
// prompt version) is answered without a model call. Keys are hex SHA-256 digests (CacheKey);
// values are plain recall.Analysis, so a shared implementation (the store, or
// Redis) needs nothing from this package but the three methods.
//
// Implementations must be safe for concurrent use. A Get error is treated as
// a miss and a Put error is logged: the cache never fails an analysis.
type Cache interface {
	// Get returns the analysis stored under key, ok=false when there is none
	// or it has expired.
	Get(ctx context.Context, key string) (a recall.Analysis, ok bool, err error)
	// Put stores a under key for ttl (ttl <= 0: no expiry beyond eviction).
	Put(ctx context.Context, key string, a recall.Analysis, ttl time.Duration) error
	// Delete removes the entries under keys; a key with no entry is no
	// error. It is how a deleted conversation's analysis is forgotten
	// (Analyzer.Forget), so it must not wait for an expiry.
	Delete(ctx context.Context, keys ...string) error
}

// CacheInput is everything an analysis depends on, so everything its cache
// key must hold: two inputs that differ in any field never share an entry.
type CacheInput struct {
	// PromptVersion and Model: a new prompt or another model never serves
	// an analysis made under the old one.
	PromptVersion, Model string
	// Owner scopes the entry to one person: the cache shares nothing across
	// owners, so nobody can learn from a hit (no call, zero tokens, the
	// speed of the answer) that someone else posted the same text.
	Owner string
	// Title, PostType and Content are the normalised conversation (or, for
	// a part of a split one, the part's content).
	Title, PostType, Content string
	// Dates is the day relative due dates count from (the conversation's
	// creation day where it was posted) and how dates are read: an entry
	// holds due dates resolved against that day ("by Friday" is a date),
	// so a conversation posted on another day, whose Friday is another,
	// never reuses it.
	Dates string
}

// CacheKey is the cache key of a finished analysis: SHA-256 over every
// field of in, each length-prefixed so no two different inputs can produce
// the same byte stream.
func CacheKey(in CacheInput) string {
	return digest("recall-bedrock-analysis", in.PromptVersion, in.Model, in.Owner, in.Dates, in.Title, in.PostType, in.Content)
}

// PartKey is the cache key of the result of part i of n of a split
// conversation, whose Content in is the part's: the same part at another
// position, or of a conversation cut into another number of parts, is
// another entry, since the model was told which part it read.
func PartKey(in CacheInput, i, n int) string {
	return digest("recall-bedrock-part", in.PromptVersion, in.Model, in.Owner, in.Dates, in.Title, in.PostType, in.Content,
		strconv.Itoa(i), strconv.Itoa(n))
}

// digest is the hex SHA-256 of fields, each prefixed with its length.
func digest(fields ...string) string {
	h := sha256.New()
	for _, s := range fields {
		var n [8]byte
		l := uint64(len(s))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MemoryCache is a bounded in-process LRU Cache: the default, and enough for
// one process. Entries expire after their ttl and the least recently used
// entry is evicted when the cache is full.
type MemoryCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
	now   func() time.Time
}

type cacheEntry struct {
	key     string
	a       recall.Analysis
	expires time.Time // zero: never
}

var _ Cache = (*MemoryCache)(nil)

// NewMemoryCache returns an LRU holding at most maxEntries analyses
// (maxEntries <= 0 holds none, which disables caching).
func NewMemoryCache(maxEntries int) *MemoryCache {
	return &MemoryCache{max: maxEntries, ll: list.New(), items: map[string]*list.Element{}, now: time.Now}
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, key string) (recall.Analysis, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return recall.Analysis{}, false, nil
	}
	e := el.Value.(*cacheEntry)
	if !e.expires.IsZero() && !c.now().Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return recall.Analysis{}, false, nil
	}
	c.ll.MoveToFront(el)
	return cloneAnalysis(e.a), true, nil
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, key string, a recall.Analysis, ttl time.Duration) error {
	if c.max <= 0 {
		return nil
	}
	var expires time.Time
	if ttl > 0 {
		expires = c.now().Add(ttl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cacheEntry)
		e.a, e.expires = cloneAnalysis(a), expires
		c.ll.MoveToFront(el)
		return nil
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, a: cloneAnalysis(a), expires: expires})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
	return nil
}

// Delete implements Cache.
func (c *MemoryCache) Delete(_ context.Context, keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if el, ok := c.items[k]; ok {
			c.ll.Remove(el)
			delete(c.items, k)
		}
	}
	return nil
}

// Len is the number of entries held, expired ones included until touched.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// cloneAnalysis copies the slices so neither the cache nor its callers can
// change what the other holds.
func cloneAnalysis(a recall.Analysis) recall.Analysis {
	if a.ActionItems != nil {
		a.ActionItems = append([]string{}, a.ActionItems...)
	}
	if a.Keywords != nil {
		a.Keywords = append([]string{}, a.Keywords...)
	}
	if a.Items != nil {
		items := make([]recall.ActionItem, len(a.Items))
		for i, it := range a.Items {
			if it.Owner != nil {
				o := *it.Owner
				it.Owner = &o
			}
			if it.Due != nil {
				d := *it.Due
				it.Due = &d
			}
			if it.DoneAt != nil {
				t := *it.DoneAt
				it.DoneAt = &t
			}
			items[i] = it
		}
		a.Items = items
	}
	return a
}

package bedrock

import (
	"context"
	"testing"
	"time"

	"recall/internal/recall"
	"recall/internal/testenv"
)

func TestMemoryCacheLRUAndTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := NewMemoryCache(2)
	clock := testenv.NewClock()
	c.now = clock.Now
	put := func(k string, ttl time.Duration) {
		t.Helper()
		if err := c.Put(ctx, k, recall.Analysis{Summary: k, ActionItems: []string{"x"}, Keywords: []string{}}, ttl); err != nil {
			t.Fatal(err)
		}
	}
	has := func(k string) bool {
		_, ok, err := c.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	put("a", 0)
	put("b", 0)
	has("a") // a is now most recent
	put("c", 0)
	if has("b") || !has("a") || !has("c") || c.Len() != 2 {
		t.Errorf("LRU kept the wrong entries: a=%v b=%v c=%v len=%d", has("a"), has("b"), has("c"), c.Len())
	}
	put("d", time.Minute)
	clock.Advance(59 * time.Second)
	if !has("d") {
		t.Error("d expired early")
	}
	clock.Advance(time.Second)
	if has("d") {
		t.Error("d outlived its ttl")
	}

	// Callers cannot change what the cache holds.
	got, _, _ := c.Get(ctx, "c")
	got.ActionItems[0] = "changed"
	again, _, _ := c.Get(ctx, "c")
	if again.ActionItems[0] != "x" || again.Keywords == nil {
		t.Errorf("cached value changed or lost its empty list: %+v", again)
	}

	off := NewMemoryCache(0)
	_ = off.Put(ctx, "k", recall.Analysis{}, 0)
	if _, ok, _ := off.Get(ctx, "k"); ok {
		t.Error("a zero-size cache stored an entry")
	}
}

func TestCacheKeySeparatesInputs(t *testing.T) {
	t.Parallel()
	base := CacheKey("v1", "m", "t", "p", "content")
	for name, k := range map[string]string{
		"prompt":  CacheKey("v2", "m", "t", "p", "content"),
		"model":   CacheKey("v1", "m2", "t", "p", "content"),
		"title":   CacheKey("v1", "m", "t2", "p", "content"),
		"type":    CacheKey("v1", "m", "t", "p2", "content"),
		"content": CacheKey("v1", "m", "t", "p", "content2"),
		"shifted": CacheKey("v1", "m", "tp", "", "content"),
	} {
		if k == base {
			t.Errorf("%s change kept the key", name)
		}
	}
	if len(base) != 64 || base != CacheKey("v1", "m", "t", "p", "content") {
		t.Errorf("key %q is not a stable SHA-256 hex digest", base)
	}
}

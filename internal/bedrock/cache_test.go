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
	in := CacheInput{PromptVersion: "v1", Model: "m", Owner: "alice", Title: "t", PostType: "p", Content: "content"}
	base := CacheKey(in)
	change := func(f func(*CacheInput)) string {
		c := in
		f(&c)
		return CacheKey(c)
	}
	for name, k := range map[string]string{
		"prompt":  change(func(c *CacheInput) { c.PromptVersion = "v2" }),
		"model":   change(func(c *CacheInput) { c.Model = "m2" }),
		"owner":   change(func(c *CacheInput) { c.Owner = "bob" }),
		"title":   change(func(c *CacheInput) { c.Title = "t2" }),
		"type":    change(func(c *CacheInput) { c.PostType = "p2" }),
		"content": change(func(c *CacheInput) { c.Content = "content2" }),
		"shifted": change(func(c *CacheInput) { c.Title, c.PostType = "tp", "" }),
		"no one":  change(func(c *CacheInput) { c.Owner = "" }),
		"day":     change(func(c *CacheInput) { c.Dates = "2026-03-11 UTC " }),
	} {
		if k == base {
			t.Errorf("%s change kept the key", name)
		}
	}
	if len(base) != 64 || base != CacheKey(in) {
		t.Errorf("key %q is not a stable SHA-256 hex digest", base)
	}
}

package redisq_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

func TestUsageTotalsAcrossWorkers(t *testing.T) {
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	ctx := ctxT(t)
	prefix := uniquePrefix()
	const haiku = "us.anthropic.claude-haiku-4-5-20251001-v1:0" // a colon inside the model ID
	const old = "anthropic.claude-3-haiku-20240307-v1:0"

	empty, err := redisq.NewUsage(c, prefix).Totals(ctx)
	if err != nil || !empty.Since.IsZero() || len(empty.Models) != 0 {
		t.Fatalf("Totals before any usage = %+v, %v", empty, err)
	}

	// Four workers record concurrently: 50 calls each on Haiku 4.5, plus a
	// cache hit, a failure and some Claude 3 Haiku calls.
	add := func(u *redisq.Usage, d redisq.ModelUsage) {
		if err := u.Add(ctx, d); err != nil {
			t.Error(err)
		}
	}
	before := time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	for range 4 {
		u := redisq.NewUsage(c, prefix)
		wg.Go(func() {
			for range 50 {
				add(u, redisq.ModelUsage{Model: haiku, Calls: 1, Analyses: 1, InputTokens: 500, OutputTokens: 80})
			}
			add(u, redisq.ModelUsage{Model: haiku, CacheHits: 1})
			add(u, redisq.ModelUsage{Model: haiku, Failures: 1})
			if err := u.Add(ctx, redisq.ModelUsage{Model: old, Calls: 2, Analyses: 1, InputTokens: 7, OutputTokens: 3}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	got, err := redisq.NewUsage(c, prefix).Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []redisq.ModelUsage{
		{Model: old, Calls: 8, Analyses: 4, InputTokens: 28, OutputTokens: 12},
		{Model: haiku, Calls: 200, Failures: 4, Analyses: 200, CacheHits: 4, InputTokens: 100_000, OutputTokens: 16_000},
	}
	if !reflect.DeepEqual(got.Models, want) {
		t.Errorf("Totals = %+v\nwant %+v", got.Models, want)
	}
	if got.Since.Before(before) || got.Since.After(time.Now()) {
		t.Errorf("Since %s, want about now", got.Since)
	}
	if ttl, err := c.PTTL(ctx, redisq.NewUsage(c, prefix).Key()).Result(); err != nil || ttl != -1 {
		t.Errorf("usage hash PTTL %s (%v), want none (-1)", ttl, err)
	}

	if err := redisq.NewUsage(c, prefix).Add(ctx, redisq.ModelUsage{Calls: 1}); recall.ErrorCode(err) != recall.EINVALID {
		t.Errorf("Add without a model = %v, want EINVALID", err)
	}
}

func TestUsageRedisDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithAppendOnly())
	c := client(t, srv.URL())
	u := redisq.NewUsage(c, uniquePrefix())
	srv.Stop()
	ctx := context.Background()
	if err := u.Add(ctx, redisq.ModelUsage{Model: "m", Calls: 1}); recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Errorf("Add with Redis down = %v, want EUNAVAILABLE", err)
	}
	if _, err := u.Totals(ctx); recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Errorf("Totals with Redis down = %v, want EUNAVAILABLE", err)
	}
}

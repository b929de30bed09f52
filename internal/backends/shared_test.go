package backends

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/config"
	"recall/internal/ratelimit"
	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

func redisClient(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	c, err := redisq.NewClient(url, redisq.ClientOptions{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// countingState counts the calls that reach the shared state.
type countingState struct {
	ratelimit.State
	n atomic.Int64
}

func (c *countingState) Load(ctx context.Context, key string) ([]byte, error) {
	c.n.Add(1)
	return c.State.Load(ctx, key)
}

func (c *countingState) CompareAndSwap(ctx context.Context, key string, old, v []byte, ttl time.Duration) (bool, error) {
	c.n.Add(1)
	return c.State.CompareAndSwap(ctx, key, old, v, ttl)
}

// TestFallbackState: while Redis fails, the limiter's state lives in the
// process for five seconds at a time, with one warning; when Redis answers
// again the state is back there, with one note.
func TestFallbackState(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithAppendOnly())
	rs := redisq.NewState(redisClient(t, srv.URL()), "fallback")
	shared := &countingState{State: rs}
	var logs testenv.Buffer
	clock := testenv.NewClock()
	f := newFallbackState("pacing", shared, slog.New(slog.NewTextHandler(&logs, nil)))
	f.now = clock.Now
	ctx := context.Background()
	load := func() string {
		t.Helper()
		v, err := f.Load(ctx, "k")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return string(v)
	}
	swap := func(old, v string) {
		t.Helper()
		var o []byte
		if old != "" {
			o = []byte(old)
		}
		if ok, err := f.CompareAndSwap(ctx, "k", o, []byte(v), time.Hour); !ok || err != nil {
			t.Fatalf("CompareAndSwap(%q, %q) = %v, %v", old, v, ok, err)
		}
	}

	swap("", "redis")
	if v, err := rs.Load(ctx, "k"); string(v) != "redis" || err != nil {
		t.Fatalf("Redis holds %q, %v; want the value swapped in", v, err)
	}

	srv.Stop()
	if v := load(); v != "" {
		t.Errorf("first Load with Redis down = %q, want the empty in-process state", v)
	}
	swap("", "local")
	tried := shared.n.Load()
	if v := load(); v != "local" {
		t.Errorf("Load on the fallback = %q, want local", v)
	}
	if shared.n.Load() != tried {
		t.Error("Redis was tried again within five seconds of failing")
	}
	clock.Advance(fallbackRetry) // Redis is tried again, fails again
	if v := load(); v != "local" || shared.n.Load() != tried+1 {
		t.Errorf("after five seconds: Load = %q with %d tries of Redis, want local after one", v, shared.n.Load()-tried)
	}
	if n := strings.Count(logs.String(), "limiting in-process"); n != 1 {
		t.Errorf("%d warnings for one outage, want 1:\n%s", n, logs.String())
	}

	srv.Restart()
	clock.Advance(fallbackRetry)
	if v := load(); v != "redis" {
		t.Errorf("Load after Redis is back = %q, want Redis's value", v)
	}
	if !strings.Contains(logs.String(), "pacing state back on Redis") {
		t.Errorf("no note when Redis came back:\n%s", logs.String())
	}
	swap("redis", "redis again")
	if v, _ := rs.Load(ctx, "k"); string(v) != "redis again" {
		t.Errorf("Redis holds %q, want the swap made after recovery", v)
	}
}

// TestLimitersShareARedisBudget: limiters of two workers (two clients) on
// one Redis spend one budget, kept under {prefix}:limit:<model> until the
// buckets are full again.
func TestLimitersShareARedisBudget(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	clock := testenv.NewClock()
	c := redisClient(t, srv.URL())
	worker := func() *bedrock.RateLimiter {
		return bedrock.NewLimiter(bedrock.LimiterOptions{RequestsPerMinute: 60, Model: "m",
			State: newFallbackState("pacing", redisq.NewState(redisClient(t, srv.URL()), "share"), nil), Now: clock.Now})
	}
	a, b := worker(), worker()
	ctx := context.Background()
	for i := range 60 {
		l := []*bedrock.RateLimiter{a, b}[i%2]
		if d, ok, err := l.Reserve(ctx, 1, -1); d != 0 || !ok || err != nil {
			t.Fatalf("reservation %d: %s, %v, %v; want at once", i+1, d, ok, err)
		}
	}
	if d, _, err := b.Reserve(ctx, 1, -1); d != time.Second || err != nil {
		t.Errorf("61st reservation waits %s (%v), want 1s: one budget for both", d, err)
	}
	key := redisq.NewState(c, "share").Key("limit:m")
	if ttl, err := c.PTTL(ctx, key).Result(); err != nil || ttl <= time.Minute || ttl > 61*time.Second {
		t.Errorf("%s PTTL = %s, %v; want the 61s until both buckets are full", key, ttl, err)
	}
}

// TestLimiterContentionOnRedis: many goroutines in four workers admit
// exactly the minute's quota without waiting, not one reservation more.
func TestLimiterContentionOnRedis(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	clock := testenv.NewClock()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		l := bedrock.NewLimiter(bedrock.LimiterOptions{RequestsPerMinute: 100, Model: "m",
			State: redisq.NewState(redisClient(t, srv.URL()), "contention"), Now: clock.Now})
		for range 10 {
			wg.Go(func() {
				for range 1000 {
					_, ok, err := l.Reserve(context.Background(), 1, 0)
					switch {
					case recall.ErrorCode(err) == recall.ETHROTTLED: // lost the race too often; try again
					case err != nil:
						t.Error(err)
						return
					case !ok:
						return
					default:
						admitted.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	if n := admitted.Load(); n != 100 {
		t.Errorf("%d reservations admitted without waiting, want the quota of 100", n)
	}
}

const meeting = `Anna: Morning all. The launch review is on the agenda today.
Ben: The payment integration is done, but the load tests failed on Tuesday.
Anna: Then the launch moves to March 14. Ben will rerun the load tests by Friday.
Chloé: I will update the customer announcement once the date is final.`

// TestWorkersShareBedrockState runs two analyzers wired as with REDIS_URL
// set, as two workers, against the fake Bedrock: the cache, the quota and
// the usage totals are one for both.
func TestWorkersShareBedrockState(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	cfg := config.Config{Bedrock: config.Bedrock{Model: bedrock.DefaultModelID, RPM: 2}, Region: s.Region()}
	var logs testenv.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	worker := func() *bedrock.Analyzer {
		c, err := bedrock.NewClient(context.Background(), s.Region(), bedrock.WithBaseEndpoint(s.URL), bedrock.WithCredentials(s.Credentials()))
		if err != nil {
			t.Fatal(err)
		}
		return bedrock.New(c, bedrockOptions(cfg, log, redisClient(t, srv.URL())))
	}
	a, b := worker(), worker()
	ctx := context.Background()

	first, err := a.Analyze(ctx, recall.AnalysisInput{ConversationID: "01A", Title: "Launch review", PostType: "meeting", Content: meeting})
	if err != nil {
		t.Fatal(err)
	}
	// The same conversation posted again (other ID, different spacing,
	// which normalisation removes) on the other worker: a free cache hit.
	second, err := b.Analyze(ctx, recall.AnalysisInput{ConversationID: "01B", Title: "  Launch review ", PostType: "meeting", Content: meeting + "\n\n"})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Cached || second.Calls != 0 || second.Summary != first.Summary || !reflect.DeepEqual(second.Keywords, first.Keywords) {
		t.Errorf("second analysis: Cached %v, Calls %d; want the first one's, free", second.Cached, second.Calls)
	}
	// The quota of two calls a minute: one left after a's call.
	if _, err := b.Analyze(ctx, recall.AnalysisInput{ConversationID: "01C", Content: "Dana: the quota is shared."}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = a.Analyze(short, recall.AnalysisInput{ConversationID: "01D", Content: "Eve: this one waits for the next minute."})
	if recall.ErrorCode(err) != recall.ETHROTTLED || recall.RetryAfter(err) < 20*time.Second {
		t.Errorf("third call in the minute, across workers = %v (retry after %s), want ETHROTTLED for about 30s", err, recall.RetryAfter(err))
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("%d model requests, want 2: one cache hit, one call refused by the shared pacing", n)
	}

	totals, err := redisq.NewUsage(redisClient(t, srv.URL()), "").Totals(ctx)
	if err != nil || len(totals.Models) != 1 {
		t.Fatalf("usage totals = %+v, %v", totals, err)
	}
	if m := totals.Models[0]; m.Model != bedrock.DefaultModelID || m.Calls != 2 || m.Analyses != 2 || m.CacheHits != 1 || m.InputTokens == 0 {
		t.Errorf("usage totals %+v, want both workers' 2 calls, 2 analyses, 1 cache hit", m)
	}
}

// TestUsageRecorderRedisDown: losing a count is logged, never an error.
func TestUsageRecorderRedisDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithAppendOnly())
	var logs testenv.Buffer
	r := usageRecorder{usage: redisq.NewUsage(redisClient(t, srv.URL()), ""), log: slog.New(slog.NewTextHandler(&logs, nil))}
	srv.Stop()
	r.RecordUsage(context.Background(), bedrock.ModelTotals{Model: "m", Calls: 1})
	if !strings.Contains(logs.String(), "usage not recorded") {
		t.Errorf("RecordUsage with Redis down logged %q, want a warning", logs.String())
	}
}

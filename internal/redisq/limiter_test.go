package redisq_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

// workers returns n limiters sharing one budget on c, as n worker
// processes would, all reading clock.
func workers(c redis.UniversalClient, clock *testenv.Clock, n int, o redisq.LimiterOptions) []*redisq.Limiter {
	if o.Prefix == "" {
		o.Prefix = uniquePrefix()
	}
	if o.Model == "" {
		o.Model = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
	}
	o.Now, o.Sleep = clock.Now, clock.Sleep
	var ls []*redisq.Limiter
	for range n {
		ls = append(ls, redisq.NewLimiter(c, o))
	}
	return ls
}

func reserve(t *testing.T, l *redisq.Limiter, est int) time.Duration {
	t.Helper()
	d, err := l.Reserve(context.Background(), est)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func rates(t *testing.T, l *redisq.Limiter) (float64, float64) {
	t.Helper()
	r, tk, err := l.Rates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r, tk
}

func TestLimiterSharedRequestsPerMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	clock := testenv.NewClock()
	ls := workers(c, clock, 2, redisq.LimiterOptions{RequestsPerMinute: 60})
	// Two workers take turns: 60 reservations fit in the minute's budget,
	// whoever makes them.
	for i := range 60 {
		if got := reserve(t, ls[i%2], 10); got != 0 {
			t.Fatalf("reservation %d (worker %d): wait %s, want 0", i+1, i%2, got)
		}
	}
	// The 61st waits one request's refill, the 62nd two.
	if got := reserve(t, ls[0], 10); got != time.Second {
		t.Errorf("61st: wait %s, want 1s", got)
	}
	if got := reserve(t, ls[1], 10); got != 2*time.Second {
		t.Errorf("62nd (other worker): wait %s, want 2s", got)
	}
	clock.Advance(30 * time.Second) // refills 30, two of them owed
	if got := reserve(t, ls[1], 10); got != 0 {
		t.Errorf("after 30s: wait %s, want 0", got)
	}
}

func TestLimiterSharedTokensAndRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	clock := testenv.NewClock()
	ls := workers(c, clock, 2, redisq.LimiterOptions{TokensPerMinute: 6000})
	a, b := ls[0], ls[1]
	if got := reserve(t, a, 6000); got != 0 {
		t.Fatalf("first: %s", got)
	}
	// 600 more tokens at 100 a second: 6s, for the other worker too.
	if got := reserve(t, b, 600); got != 6*time.Second {
		t.Errorf("over quota: wait %s, want 6s", got)
	}
	// Both calls turned out cheaper: the difference comes back to both.
	ctx := context.Background()
	a.Record(ctx, 6000, 1000)
	b.Record(ctx, 600, 100)
	if got := reserve(t, b, 4900); got != 0 { // 6000-6000-600+5000+500
		t.Errorf("after corrections: wait %s, want 0", got)
	}
	if got := reserve(t, a, 100); got != time.Second {
		t.Errorf("budget spent again: wait %s, want 1s", got)
	}
	// A call that cost more than estimated takes the difference.
	clock.Advance(10 * time.Minute)
	a.Record(ctx, 100, 3100) // 3000 more than reserved
	if got := reserve(t, b, 3000); got != 0 {
		t.Errorf("half a minute's tokens left: wait %s, want 0", got)
	}
	if got := reserve(t, b, 600); got != 6*time.Second {
		t.Errorf("after the overrun: wait %s, want 6s", got)
	}
	// A call bigger than a minute of quota waits for full buckets, not forever.
	clock.Advance(10 * time.Minute)
	if got := reserve(t, a, 10_000); got != 0 {
		t.Errorf("oversized call on full bucket: %s", got)
	}
	if got := reserve(t, b, 10_000); got != time.Minute {
		t.Errorf("oversized call on empty bucket: %s, want 1m", got)
	}
}

func TestLimiterThrottledSlowsEveryWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	clock := testenv.NewClock()
	ls := workers(c, clock, 2, redisq.LimiterOptions{RequestsPerMinute: 60})
	a, b := ls[0], ls[1]
	ctx := context.Background()
	if got := reserve(t, a, 1); got != 0 {
		t.Fatal(got)
	}
	b.Throttled(ctx)
	if rpm, _ := rates(t, a); rpm != 30 {
		t.Errorf("other worker after a throttle: %v rpm, want 30", rpm)
	}
	// Buckets were emptied: the next call waits one request at 30/min.
	if got := reserve(t, a, 1); got != 2*time.Second {
		t.Errorf("wait %s, want 2s", got)
	}
	// A throttle right after the halving is a call admitted at the old
	// pace: it does not halve again, whichever worker reports it.
	a.Throttled(ctx)
	if rpm, _ := rates(t, b); rpm != 30 {
		t.Errorf("a second throttle within the debounce: %v rpm, want still 30", rpm)
	}
	clock.Advance(5 * time.Second)
	a.Throttled(ctx)
	if rpm, _ := rates(t, b); rpm != 15 {
		t.Errorf("after two throttles: %v rpm, want 15", rpm)
	}
	for i := range 10 {
		clock.Advance(5 * time.Second)
		ls[i%2].Throttled(ctx)
	}
	if rpm, _ := rates(t, a); rpm != 60.0/16 {
		t.Errorf("floor: %v rpm, want %v", rpm, 60.0/16)
	}
	clock.Advance(time.Minute)
	if rpm, _ := rates(t, b); rpm != 60 {
		t.Errorf("after the cooldown: %v rpm, want 60", rpm)
	}
}

func TestLimiterLearnsTheFleetRateWhenUnlimited(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	clock := testenv.NewClock()
	ls := workers(c, clock, 2, redisq.LimiterOptions{})
	ctx := context.Background()
	for i := range 10 {
		if got := reserve(t, ls[i%2], 100); got != 0 {
			t.Fatalf("unlimited limiter made a call wait %s", got)
		}
		ls[i%2].Record(ctx, 100, 50)
		clock.Advance(time.Second)
	}
	// The fleet made 10 requests and 500 tokens in the 10s since its first
	// call: 60 requests and 3,000 tokens a minute; a throttle halves it.
	ls[0].Throttled(ctx)
	rpm, tpm := rates(t, ls[1])
	if rpm != 30 || tpm != 1500 {
		t.Errorf("learned %v rpm, %v tpm; want half the fleet's observed 60 and 3000 per minute", rpm, tpm)
	}
	if got := reserve(t, ls[1], 10); got != 2*time.Second {
		t.Errorf("wait %s, want 2s (one request at 30/min)", got)
	}
	clock.Advance(2 * time.Minute)
	if rpm, tpm := rates(t, ls[0]); rpm != 0 || tpm != 0 {
		t.Errorf("after the cooldown: %v, %v; want unlimited again", rpm, tpm)
	}
	if got := reserve(t, ls[0], 1e9); got != 0 {
		t.Errorf("unlimited again, yet a wait of %s", got)
	}
}

func TestLimiterWaitHonoursTheDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	clock := testenv.NewClock()
	ls := workers(c, clock, 2, redisq.LimiterOptions{RequestsPerMinute: 1})
	a, b := ls[0], ls[1]
	if err := a.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), clock.Now().Add(10*time.Second))
	defer cancel()
	err := b.Wait(ctx, 1)
	if !errors.Is(err, bedrock.ErrPaced) || recall.ErrorCode(err) != recall.ETHROTTLED {
		t.Fatalf("err = %v, want ErrPaced coded %s", err, recall.ETHROTTLED)
	}
	if s := clock.Sleeps(); len(s) != 0 {
		t.Errorf("slept %v before refusing", s)
	}
	// The refused reservation was never made: the next wait is one request's.
	if err := b.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if s := clock.Sleeps(); len(s) != 1 || s[0] != time.Minute {
		t.Errorf("sleeps %v, want [1m]", s)
	}

	cancelled, stop := context.WithCancel(context.Background())
	stop()
	if err := a.Wait(cancelled, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestLimiterSleepCutShortGivesTheReservationBack checks a wait abandoned
// by its caller does not keep its place in the budget.
func TestLimiterSleepCutShortGivesTheReservationBack(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	clock := testenv.NewClock()
	prefix := uniquePrefix()
	o := redisq.LimiterOptions{Prefix: prefix, Model: "m", RequestsPerMinute: 60, Now: clock.Now,
		Sleep: func(ctx context.Context, d time.Duration) error { return context.Canceled }}
	l := redisq.NewLimiter(c, o)
	for range 60 {
		if got := reserve(t, l, 1); got != 0 {
			t.Fatal(got)
		}
	}
	if err := l.Wait(context.Background(), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want the sleep's error", err)
	}
	if got := reserve(t, l, 1); got != time.Second {
		t.Errorf("after an abandoned wait: %s, want 1s (the abandoned one given back)", got)
	}
}

// TestLimiterMatchesInProcess replays one random sequence of reservations,
// corrections, throttles and clock steps on bedrock.RateLimiter and on the
// shared limiter, and requires the same wait for every reservation: the
// script is the in-process arithmetic, not an approximation of it.
func TestLimiterMatchesInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	// Both quotas set: with one unset the limiters learn it from what they
	// observed, the in-process one from an exact event list and the shared
	// one from a sliding-window count, which may differ slightly.
	for _, q := range []struct{ rpm, tpm int }{{60, 20_000}, {120, 50_000}, {6, 4000}} {
		clock := testenv.NewClock()
		mem := bedrock.NewLimiter(bedrock.LimiterOptions{RequestsPerMinute: q.rpm, TokensPerMinute: q.tpm, Now: clock.Now, Sleep: clock.Sleep})
		red := workers(c, clock, 1, redisq.LimiterOptions{RequestsPerMinute: q.rpm, TokensPerMinute: q.tpm})[0]
		rng := rand.New(rand.NewPCG(uint64(q.rpm), uint64(q.tpm)))
		ctx := context.Background()
		waited := 0
		for i := range 400 {
			switch x := rng.IntN(100); {
			case x < 50:
				est := 100 + rng.IntN(8000)
				want := mem.Reserve(est)
				if got := reserve(t, red, est); (got - want).Abs() > time.Microsecond {
					t.Fatalf("%d rpm %d tpm, step %d: Reserve(%d) = %s, in-process %s", q.rpm, q.tpm, i, est, got, want)
				}
				if want > 0 {
					waited++
				}
			case x < 80:
				est := 100 + rng.IntN(8000)
				actual := rng.IntN(est + 2000)
				mem.Record(ctx, est, actual)
				red.Record(ctx, est, actual)
			case x < 83:
				mem.Throttled(ctx)
				red.Throttled(ctx)
			default:
				clock.Advance(time.Duration(rng.IntN(20_000)) * time.Millisecond)
			}
		}
		if waited < 20 {
			t.Errorf("%d rpm %d tpm: only %d reservations had to wait; the sequence does not exercise pacing", q.rpm, q.tpm, waited)
		}
		wr, wt := mem.Rates()
		if gr, gt := rates(t, red); gr != wr || gt != wt {
			t.Errorf("%d rpm %d tpm: rates %v, %v; in-process %v, %v", q.rpm, q.tpm, gr, gt, wr, wt)
		}
	}
}

// TestLimiterRedisClock checks the production path, where the script reads
// Redis's TIME: a second reservation at 1 rpm waits (about) a minute.
func TestLimiterRedisClock(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	l := redisq.NewLimiter(c, redisq.LimiterOptions{Prefix: uniquePrefix(), Model: "m", RequestsPerMinute: 1})
	if got := reserve(t, l, 1); got != 0 {
		t.Fatalf("first: %s", got)
	}
	if got := reserve(t, l, 1); got <= 50*time.Second || got > time.Minute {
		t.Errorf("second at 1 rpm: wait %s, want just under a minute", got)
	}
}

// TestLimiterKeyExpiresOnlyWhenIdle checks the TTL the script sets: at least
// a minute after the state would be back to "no key".
func TestLimiterKeyExpiresOnlyWhenIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	clock := testenv.NewClock()
	l := workers(c, clock, 1, redisq.LimiterOptions{Model: "m", RequestsPerMinute: 6, Cooldown: 5 * time.Minute})[0]
	ctx := context.Background()
	pttl := func() time.Duration {
		d, err := c.PTTL(ctx, l.Key()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if !strings.HasPrefix(l.Key(), "{") || !strings.Contains(l.Key(), "}:limit:m") {
		t.Errorf("key %q, want {prefix}:limit:<model>", l.Key())
	}
	near := func(got, want time.Duration) bool { return got <= want && got > want-5*time.Second }
	reserve(t, l, 1)
	if d := pttl(); !near(d, 3*time.Minute) {
		t.Errorf("nearly idle: PTTL %s, want 3m (observation window 2m + 1m)", d)
	}
	for range 29 { // 24 owed at 6/min: 5 minutes to refill to full
		reserve(t, l, 1)
	}
	if d := pttl(); !near(d, 6*time.Minute) {
		t.Errorf("owing 24 requests: PTTL %s, want 6m (5m to refill + 1m)", d)
	}
	l.Throttled(ctx) // 3/min for 5 minutes: 9 minutes to refill
	if d := pttl(); !near(d, 15*time.Minute) {
		t.Errorf("slowed: PTTL %s, want 15m (9m to refill at 3/min + 5m cooldown + 1m)", d)
	}
}

// TestLimiterFallsBackWhenRedisIsDown checks a limiter outage does not stop
// processing: calls are paced in-process, with one warning, and go back to
// Redis once it answers again.
func TestLimiterFallsBackWhenRedisIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithAppendOnly())
	c := client(t, srv.URL())
	clock := testenv.NewClock()
	var logs syncLog
	o := redisq.LimiterOptions{Prefix: uniquePrefix(), Model: "m", RequestsPerMinute: 1, RetryAfter: 10 * time.Second,
		Now: clock.Now, Sleep: clock.Sleep, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	l := redisq.NewLimiter(c, o)
	ctx := context.Background()
	if err := l.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	// Redis down: the first call of the outage falls back (the in-process
	// limiter has its own full minute), the second is paced by it.
	start := time.Now()
	if err := l.Wait(ctx, 1); err != nil {
		t.Fatalf("Wait with Redis down = %v, want the fallback to admit it", err)
	}
	dctx, cancel := context.WithDeadline(ctx, clock.Now().Add(10*time.Second))
	defer cancel()
	if err := l.Wait(dctx, 1); !errors.Is(err, bedrock.ErrPaced) {
		t.Errorf("second Wait with Redis down = %v, want the fallback's ErrPaced", err)
	}
	l.Record(ctx, 1, 1)
	l.Throttled(ctx)
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("the outage cost %s", took)
	}
	if n := strings.Count(logs.String(), "limiter unreachable"); n != 1 {
		t.Errorf("%d fallback warnings, want 1:\n%s", n, logs.String())
	}

	srv.Restart()
	// Until RetryAfter passes the limiter stays in-process...
	if _, err := c.Del(ctx, l.Key()).Result(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	if err := l.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, l.Key()).Result(); n != 0 {
		t.Errorf("the limiter went to Redis before RetryAfter")
	}
	// ... then it is back on Redis.
	clock.Advance(10 * time.Second)
	if err := l.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, l.Key()).Result(); n != 1 {
		t.Errorf("the limiter did not go back to Redis")
	}
	if !strings.Contains(logs.String(), "limiter back on Redis") {
		t.Errorf("no recovery note:\n%s", logs.String())
	}
}

func TestLimiterCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a redis cluster")
	}
	t.Parallel()
	c := client(t, clusterURL(testenv.StartRedisCluster(t)))
	clock := testenv.NewClock()
	ls := workers(c, clock, 2, redisq.LimiterOptions{RequestsPerMinute: 2, TokensPerMinute: 1000})
	if got := reserve(t, ls[0], 500); got != 0 {
		t.Fatal(got)
	}
	if got := reserve(t, ls[1], 500); got != 0 {
		t.Fatal(got)
	}
	if got := reserve(t, ls[0], 500); got != 30*time.Second {
		t.Errorf("third on a cluster: %s, want 30s", got)
	}
	ls[1].Throttled(context.Background())
	if rpm, tpm := rates(t, ls[0]); rpm != 1 || tpm != 500 {
		t.Errorf("rates after a throttle: %v, %v; want 1, 500", rpm, tpm)
	}
}

// syncLog is a log sink safe for the limiter's concurrent writes.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestAnalyzersShareTheLimiter runs two analyzers, as two workers, on one
// Redis limiter against the fake Bedrock, on Redis's clock as in
// production: a ThrottlingException on one worker slows the other, whose
// next call is then paced past its deadline and refused as ETHROTTLED
// without reaching Bedrock.
func TestAnalyzersShareTheLimiter(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	t.Parallel()
	c := client(t, testenv.StartRedis(t).URL())
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	prefix := uniquePrefix()
	var ls []*redisq.Limiter
	worker := func() *bedrock.Analyzer {
		l := redisq.NewLimiter(c, redisq.LimiterOptions{Prefix: prefix, Model: bedrock.DefaultModelID, RequestsPerMinute: 60})
		ls = append(ls, l)
		return bedrockAnalyzer(t, s, bedrock.Options{Limiter: l, Cache: bedrock.NewMemoryCache(0)})
	}
	a, b := worker(), worker()
	ctx := ctxT(t)
	input := recall.AnalysisInput{ConversationID: "01A", Title: "Launch review", PostType: "meeting", Content: meeting}

	if _, err := a.Analyze(ctx, input); err != nil {
		t.Fatal(err)
	}
	s.Enqueue(bedrocktest.Error("ThrottlingException", ""))
	if _, err := a.Analyze(ctx, input); recall.ErrorCode(err) != recall.ETHROTTLED {
		t.Fatalf("throttled analysis = %v, want %s", err, recall.ETHROTTLED)
	}
	if rpm, _ := rates(t, ls[1]); rpm != 30 {
		t.Errorf("the other worker paces at %v rpm after the throttle, want 30", rpm)
	}
	// The buckets were emptied: the next call must wait 2s at 30 rpm, which
	// a job with one second left cannot afford.
	sent := len(s.Requests())
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := b.Analyze(short, input)
	if recall.ErrorCode(err) != recall.ETHROTTLED || !errors.Is(err, bedrock.ErrPaced) {
		t.Errorf("paced analysis = %v, want %s wrapping ErrPaced", err, recall.ETHROTTLED)
	}
	if n := len(s.Requests()); n != sent {
		t.Errorf("a paced analysis still reached Bedrock (%d requests, had %d)", n, sent)
	}
}

// BenchmarkLimiterWait is the price of pacing one model call when the
// budget has room: one script call (read, refill, reserve, write, renew the
// TTL) on Redis's clock, against a local redis-server. Record, after the
// call, is one more script of the same cost.
func BenchmarkLimiterWait(b *testing.B) {
	c, err := redisq.NewClient(testenv.StartRedis(b).URL(), redisq.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	l := redisq.NewLimiter(c, redisq.LimiterOptions{Prefix: "bench", Model: "m", RequestsPerMinute: 1 << 40, TokensPerMinute: 1 << 50})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx, 4500); err != nil {
			b.Fatal(err)
		}
	}
}

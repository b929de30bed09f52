package redisq

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/bedrock"
	"recall/internal/recall"
)

// DefaultLimiterRetry is how long a Limiter paces in-process after a Redis
// failure before it tries Redis again.
const DefaultLimiterRetry = 5 * time.Second

// LimiterOptions configures a Limiter.
type LimiterOptions struct {
	// Prefix is the hash tag of the limiter's key, as for the queue
	// (DefaultPrefix when empty).
	Prefix string
	// Model is the model ID whose quota is paced; every worker calling the
	// same model with the same prefix shares one budget.
	Model string
	// RequestsPerMinute and TokensPerMinute are the quotas to stay under,
	// as for bedrock.LimiterOptions (0: none known; see Limiter).
	RequestsPerMinute int
	TokensPerMinute   int
	// Cooldown is how long a throttle keeps the rate reduced (1 minute).
	Cooldown time.Duration
	// Now replaces Redis's clock, for tests. When nil (production) the script
	// reads Redis's TIME, so every worker paces by one clock and skew
	// between hosts cannot hand one of them extra quota.
	Now func() time.Time
	// Sleep replaces the wait, for tests.
	Sleep func(ctx context.Context, d time.Duration) error
	// RetryAfter is how long to pace in-process after a Redis failure before
	// trying Redis again (DefaultLimiterRetry).
	RetryAfter time.Duration
	// Logger receives a warning when the limiter falls back to in-process
	// pacing and a note when it is back on Redis.
	Logger *slog.Logger
}

// Limiter is a bedrock.Limiter in Redis, shared by every worker: the same
// two token buckets as bedrock.RateLimiter (requests and tokens, each
// holding at most one minute of quota and refilling continuously, a
// reservation allowed to drive them negative and the caller waiting until
// they are back at zero), kept in one hash per model,
// {prefix}:limit:<model>, and changed by one Lua script per call: atomic
// and one round trip, on a cluster too. Throttled halves the rate in that
// hash, so one worker's ThrottlingException slows every worker for the
// cooldown, each further throttle within it halving again down to 1/16.
//
// With no quota configured the policy is bedrock.RateLimiter's: calls go
// through freely until the first throttle, and from then on, for the
// cooldown, pace at half the rate every worker together was observed to
// reach over the last minute (a sliding-window count kept in the same hash).
//
// The key carries a TTL, renewed by every call, that ends only once the
// state has become indistinguishable from no key at all (both buckets full
// again, the slowdown over, the observation window empty), so expiry never
// loses pacing. Under a volatile-* eviction policy the key could be evicted
// early; the worst that does is one minute's burst at the full quota, which
// Bedrock's own throttling then slows down.
//
// A Redis failure does not stop processing: the Limiter logs a warning and
// paces with an in-process bedrock.RateLimiter of the same quotas, trying
// Redis again after RetryAfter. While it is on the fallback each worker
// paces alone, so several of them may together exceed the quota until
// Bedrock throttles them, which slows each fallback down.
type Limiter struct {
	rdb      redis.UniversalClient
	key      []string
	rpm, tpm int
	cooldown time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	retry    time.Duration
	log      *slog.Logger
	fallback *bedrock.RateLimiter

	mu        sync.Mutex
	downUntil time.Time // while now is before it, pace in-process
	down      bool
}

var _ bedrock.Limiter = (*Limiter)(nil)

// NewLimiter returns a limiter on client. It does no I/O.
func NewLimiter(client redis.UniversalClient, o LimiterOptions) *Limiter {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Cooldown <= 0 {
		o.Cooldown = time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultLimiterRetry
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Limiter{
		rdb: client, key: []string{"{" + o.Prefix + "}:limit:" + o.Model},
		rpm: max(o.RequestsPerMinute, 0), tpm: max(o.TokensPerMinute, 0), cooldown: o.Cooldown,
		now: o.Now, sleep: o.Sleep, retry: o.RetryAfter, log: o.Logger.With("model", o.Model),
		fallback: bedrock.NewLimiter(bedrock.LimiterOptions{
			RequestsPerMinute: o.RequestsPerMinute, TokensPerMinute: o.TokensPerMinute,
			Cooldown: o.Cooldown, Now: o.Now, Sleep: o.Sleep,
		}),
	}
}

// Key is the Redis key holding the limiter's state.
func (l *Limiter) Key() string { return l.key[0] }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Limiter) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// Script operations.
const (
	opReserve   = "reserve"
	opUnreserve = "unreserve"
	opRecord    = "record"
	opThrottle  = "throttle"
	opRates     = "rates"
)

// run calls the limiter script. maxWait < 0 means "no limit on the wait".
// It returns the script's reply: admitted, then two numbers whose meaning
// depends on op (the wait in microseconds for reserve; the effective
// requests and tokens per minute for rates).
func (l *Limiter) run(ctx context.Context, op string, est, actual int, maxWait time.Duration) (bool, float64, float64, error) {
	now := ""
	if l.now != nil {
		now = strconv.FormatInt(l.now().UnixMicro(), 10)
	}
	mw := int64(-1)
	if maxWait >= 0 {
		mw = maxWait.Microseconds()
	}
	res, err := limiterScript.Run(ctx, l.rdb, l.key, op, now, l.rpm, l.tpm, l.cooldown.Microseconds(), est, actual, mw).Slice()
	if err != nil {
		return false, 0, 0, fmt.Errorf("redisq: limiter %s %s: %w", op, l.key[0], err)
	}
	if len(res) != 3 {
		return false, 0, 0, fmt.Errorf("redisq: limiter %s: unexpected reply %v", op, res)
	}
	ok, _ := res[0].(int64)
	a, err1 := strconv.ParseFloat(fmt.Sprint(res[1]), 64)
	b, err2 := strconv.ParseFloat(fmt.Sprint(res[2]), 64)
	if err1 != nil || err2 != nil {
		return false, 0, 0, fmt.Errorf("redisq: limiter %s: unexpected reply %v", op, res)
	}
	return ok == 1, a, b, nil
}

func micros(us float64) time.Duration {
	return time.Duration(us+0.5) * time.Microsecond
}

// onFallback reports whether calls should go to the in-process limiter now.
func (l *Limiter) onFallback() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down && l.clock().Before(l.downUntil)
}

// failed switches to the in-process limiter after a Redis error.
func (l *Limiter) failed(ctx context.Context, err error) {
	l.mu.Lock()
	was := l.down
	l.down, l.downUntil = true, l.clock().Add(l.retry)
	l.mu.Unlock()
	if !was {
		l.log.WarnContext(ctx, "redisq: limiter unreachable; pacing in-process until Redis answers", "retry_in", l.retry.String(), "error", err.Error())
	}
}

// recovered notes a successful call after a failure.
func (l *Limiter) recovered(ctx context.Context) {
	l.mu.Lock()
	was := l.down
	l.down = false
	l.mu.Unlock()
	if was {
		l.log.InfoContext(ctx, "redisq: limiter back on Redis")
	}
}

// do runs op on Redis unless the limiter is on its fallback. It reports
// false when the caller should use the fallback instead; ctx's own end is
// returned as an error, never taken for an outage.
func (l *Limiter) do(ctx context.Context, op string, est, actual int, maxWait time.Duration) (ok bool, a, b float64, useFallback bool, err error) {
	if l.onFallback() {
		return false, 0, 0, true, nil
	}
	ok, a, b, err = l.run(ctx, op, est, actual, maxWait)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return false, 0, 0, false, cerr
		}
		l.failed(ctx, err)
		return false, 0, 0, true, nil
	}
	l.recovered(ctx)
	return ok, a, b, false, nil
}

// Reserve takes one request and estTokens tokens from the shared buckets
// and returns how long the caller must wait before calling (0: at once),
// the decision Wait acts on, exposed so it can be tested without waiting.
// It errs (EUNAVAILABLE) when Redis does, without falling back.
func (l *Limiter) Reserve(ctx context.Context, estTokens int) (time.Duration, error) {
	_, w, _, err := l.run(ctx, opReserve, estTokens, 0, -1)
	if err != nil {
		return 0, recall.Wrap(err, recall.EUNAVAILABLE, "the shared limiter is unavailable")
	}
	return micros(w), nil
}

// Wait implements bedrock.Limiter: one script call reserves a request and
// estTokens tokens (or, when the wait would outlast ctx's deadline, reserves
// nothing and Wait fails at once with an error wrapping bedrock.ErrPaced,
// coded ETHROTTLED), then Wait sleeps for the wait the script computed. A
// sleep cut short by ctx gives the reservation back.
func (l *Limiter) Wait(ctx context.Context, estTokens int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	maxWait := time.Duration(-1)
	if deadline, ok := ctx.Deadline(); ok {
		maxWait = max(deadline.Sub(l.clock()), 0)
	}
	ok, w, _, fb, err := l.do(ctx, opReserve, estTokens, 0, maxWait)
	switch {
	case err != nil:
		return err
	case fb:
		return l.fallback.Wait(ctx, estTokens)
	}
	d := micros(w)
	if !ok {
		e := recall.Wrap(&bedrock.PacedError{Wait: d}, recall.ETHROTTLED, "pacing model calls to stay under the shared quota")
		e.RetryAfter = d
		return e
	}
	if d <= 0 {
		return nil
	}
	if err := l.sleep(ctx, d); err != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		l.do(uctx, opUnreserve, estTokens, 0, -1)
		return err
	}
	return nil
}

// Record implements bedrock.Limiter: the token bucket is corrected by
// estTokens-actualTokens, and the actual tokens count towards the observed
// rate.
func (l *Limiter) Record(ctx context.Context, estTokens, actualTokens int) {
	if _, _, _, fb, _ := l.do(ctx, opRecord, estTokens, actualTokens, -1); fb {
		l.fallback.Record(ctx, estTokens, actualTokens)
	}
}

// Throttled implements bedrock.Limiter: the shared rate is halved (down to
// 1/16) until Cooldown passes without another throttle, and both buckets
// are emptied, for every worker.
func (l *Limiter) Throttled(ctx context.Context) {
	if _, _, _, fb, _ := l.do(ctx, opThrottle, 0, 0, -1); fb {
		l.fallback.Throttled(ctx)
	}
}

// Rates reports the shared per-minute limits in force now (0 = none), for
// logs and the CLI. It errs (EUNAVAILABLE) when Redis does.
func (l *Limiter) Rates(ctx context.Context) (requestsPerMinute, tokensPerMinute float64, err error) {
	_, r, t, err := l.run(ctx, opRates, 0, 0, -1)
	if err != nil {
		return 0, 0, recall.Wrap(err, recall.EUNAVAILABLE, "the shared limiter is unavailable")
	}
	return r, t, nil
}

// limiterScript is bedrock.RateLimiter's arithmetic on a Redis hash, so the
// shared limiter and the in-process one make the same decisions.
//
// KEYS[1] the limiter hash:
//
//	rl, tl   request and token bucket levels (may be negative)
//	last     when the buckets were last refilled (µs)
//	f        rate factor: 1, or 1/2 … 1/16 while slowed
//	su       end of the slowdown (µs)
//	lr, lt   rates learned at the first throttle when none is configured
//	ws       start of the current observation window (µs)
//	cr, ct   requests and tokens observed in the current window
//	pr, pt   … and in the window before it
//	th       when the rate was last halved (µs)
//
// ARGV: op (reserve, unreserve, record, throttle, rates), now in µs (""
// for Redis's TIME), requests and tokens per minute configured (0: none),
// cooldown µs, estimated tokens, actual tokens, most wait allowed in µs
// (-1: any).
//
// Returns {admitted (0|1), a, b}, a and b as strings: the wait in µs and 0
// for reserve, the effective rates for rates, 0 and 0 otherwise.
var limiterScript = redis.NewScript(`
local WINDOW = 60000000
local MINF = 1 / 16
local DEBOUNCE = 5000000
local STEP = 1 / 16
local op = ARGV[1]
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local crpm, ctpm = tonumber(ARGV[3]), tonumber(ARGV[4])
local cooldown = tonumber(ARGV[5])
local est, actual = tonumber(ARGV[6]), tonumber(ARGV[7])
local maxwait = tonumber(ARGV[8])

local h = redis.call('HMGET', KEYS[1], 'rl', 'tl', 'last', 'f', 'su', 'lr', 'lt', 'ws', 'cr', 'ct', 'pr', 'pt', 'th')
local rl, tl = tonumber(h[1]), tonumber(h[2])
local last = tonumber(h[3]) or now
local f, su = tonumber(h[4]) or 1, tonumber(h[5]) or 0
local lr, lt = tonumber(h[6]) or 0, tonumber(h[7]) or 0
local ws = tonumber(h[8]) or now
local cr, ct = tonumber(h[9]) or 0, tonumber(h[10]) or 0
local pr, pt = tonumber(h[11]) or 0, tonumber(h[12]) or 0
local th = tonumber(h[13]) or 0

-- rates: the effective limits, ending a slowdown whose cooldown has passed.
local function rates()
  if f < 1 and now >= su then f, lr, lt = 1, 0, 0 end
  local r, t = crpm, ctpm
  if r == 0 then r = lr end
  if t == 0 then t = lt end
  return r * f, t * f
end

-- refill: what the buckets earned since last, capped at a minute of quota.
local function refill()
  local r, t = rates()
  if rl == nil then rl = r end
  if tl == nil then tl = t end
  local el = (now - last) / WINDOW
  if el > 0 then
    rl = math.min(rl + r * el, r)
    tl = math.min(tl + t * el, t)
    last = now
  end
  rl, tl = math.min(rl, r), math.min(tl, t)
  return r, t
end

-- deficit: how long a bucket at level takes to refill to zero.
local function deficit(level, perMinute)
  if level >= 0 then return 0 end
  return -level / perMinute * WINDOW
end

-- roll moves the observation window forward to now.
local function roll()
  if now >= ws + WINDOW then
    if now < ws + 2 * WINDOW then
      pr, pt, ws = cr, ct, ws + WINDOW
    else
      pr, pt, ws = 0, 0, now
    end
    cr, ct = 0, 0
  end
end

-- observed: requests and tokens per minute seen lately: a sliding-window
-- count, or, when nothing was seen before the current window, the count
-- since it began scaled to a minute (bedrock.RateLimiter.observed).
local function observed()
  roll()
  if pr == 0 and pt == 0 then
    local span = math.max(now - ws, 1000000)
    if span < WINDOW then return cr * WINDOW / span, ct * WINDOW / span end
    return cr, ct
  end
  local w = math.max(0, 1 - (now - ws) / WINDOW)
  return cr + pr * w, ct + pt * w
end

local function num(x) return string.format('%.17g', x) end

local function save(r, t)
  redis.call('HSET', KEYS[1], 'rl', num(rl), 'tl', num(tl), 'last', num(last), 'f', num(f), 'su', num(su),
    'lr', num(lr), 'lt', num(lt), 'ws', num(ws), 'cr', num(cr), 'ct', num(ct), 'pr', num(pr), 'pt', num(pt), 'th', num(th))
  -- Keep the key until its state equals no key at all: buckets full, the
  -- slowdown over, the observation window empty; then a minute more.
  local ttl = 2 * WINDOW
  if r > 0 then ttl = math.max(ttl, (r - rl) / r * WINDOW) end
  if t > 0 then ttl = math.max(ttl, (t - tl) / t * WINDOW) end
  ttl = ttl + math.max(su - now, 0) + WINDOW
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000))
end

if op == 'rates' then
  local r, t = rates()
  return {1, num(r), num(t)}
end

local r, t = refill()
if op == 'reserve' then
  local wait = 0
  if r > 0 then
    rl = rl - 1
    wait = math.max(wait, deficit(rl, r))
  end
  if t > 0 then
    tl = tl - math.min(est, t)
    wait = math.max(wait, deficit(tl, t))
  end
  -- The slowed pace ends with the slowdown: no wait outlasts it.
  if f < 1 then wait = math.min(wait, math.max(su - now, 0)) end
  if maxwait >= 0 and wait > maxwait then
    return {0, num(wait), '0'}
  end
  roll()
  cr = cr + 1
  save(r, t)
  return {1, num(wait), '0'}
elseif op == 'unreserve' then
  if r > 0 then rl = math.min(rl + 1, r) end
  if t > 0 then tl = math.min(tl + math.min(est, t), t) end
  roll()
  cr = math.max(cr - 1, 0)
elseif op == 'record' then
  if t > 0 then tl = math.min(tl + math.min(est, t) - actual, t) end
  -- Additive increase (bedrock.recoveryStep) for each call the model answered.
  if actual > 0 and f < 1 then f = math.min(1, f + STEP) end
  roll()
  ct = ct + actual
elseif op == 'throttle' then
  if f == 1 then
    local orq, otk = observed()
    if crpm == 0 then lr = math.max(orq, 1) end
    if ctpm == 0 and otk > 0 then lt = otk end
  end
  -- Halve at most once per DEBOUNCE (bedrock.throttleDebounce).
  if f == 1 or now - th >= DEBOUNCE then
    f = math.max(f / 2, MINF)
    th = now
  end
  su = now + cooldown
  last = now
  rl, tl = math.min(rl, 0), math.min(tl, 0)
  r, t = rates()
else
  return redis.error_reply('unknown limiter op ' .. tostring(op))
end
save(r, t)
return {1, '0', '0'}
`)

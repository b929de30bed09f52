package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"recall/internal/testenv"
)

// stopClean sends SIGTERM and expects exit code 0 within d.
func stopClean(t *testing.T, p *proc, d time.Duration) {
	t.Helper()
	p.signal(syscall.SIGTERM)
	if !p.wait(d) {
		t.Errorf("%s did not exit within %s of SIGTERM", p.name, d)
		p.kill()
		return
	}
	if code := p.exitCode(); code != 0 {
		t.Errorf("%s exited %d after SIGTERM:\n%s", p.name, code, p.tail())
	}
}

// TestWorkerSIGKILL runs the API (`recall serve --no-worker`) and a separate
// `recall worker` over Redis and dynalite, and kills the worker with SIGKILL
// at random moments while conversations flow, restarting it each time under
// the same consumer name. Every conversation must end done with exactly one
// result written across all the worker's incarnations.
func TestWorkerSIGKILL(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("worker SIGKILL x%d (Redis+dynalite)", sz.kills))
	s.killed = true
	redis := testenv.StartRedis(t)
	dyn := startDynalite(t, s.dir, true)
	env := recallEnv(append(dynamoEnv(dyn.Endpoint(), "chaos-kill"), "REDIS_URL="+redis.URL(), "RECALL_DATA_DIR="+t.TempDir(),
		"RECALL_SWEEP_EVERY=500ms", "RECALL_STALE_AFTER=3s", "RECALL_RETRY_BASE=100ms", "RECALL_RETRY_MAX=2s")...)
	addr := freeAddr(t)
	api := s.serve(addr, env, "--no-worker", "--grace", "5s")
	wenv := append(env[:len(env):len(env)], "RECALL_CONSUMER=chaos-worker", "RECALL_ANALYZER_LATENCY=20ms", "RECALL_CONCURRENCY=8")
	w := s.worker(wenv)

	c := newClient("http://"+addr, token(t, "chaos-kill"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Creates are spread over most of the kill schedule (about 0.9s per
	// kill and restart), so every kill finds jobs in flight.
	span := time.Duration(sz.kills) * 700 * time.Millisecond
	p := produce(ctx, c, "kill", sz.killConvs, float64(sz.killConvs)/span.Seconds(), 8, false)
	rng := rand.New(rand.NewPCG(8, uint64(time.Now().UnixNano())))
	var uptimes []time.Duration
	for range sz.kills {
		up := 200*time.Millisecond + time.Duration(rng.Int64N(int64(800*time.Millisecond)))
		time.Sleep(up)
		w.kill()
		uptimes = append(uptimes, up)
		w = s.worker(wenv)
	}
	p.wait()
	final := c.settle(t, p.accepted(), sz.settleWithin)
	stopClean(t, w, 10*time.Second)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	s.account(p.accepted(), final, ls)
	if n := p.totalRefused(); n > 0 {
		t.Errorf("%d creates were refused: %s", n, p.refused())
	}
	resumed := 0
	for _, j := range ls.jobs {
		if j.Outcome == "done" && j.Attempt > 1 {
			resumed++
		}
	}
	s.res.note("%d kills, each %s–%s after the worker was ready (mean %s); %d worker incarnations",
		sz.kills, ms(pct(uptimes, 0)), ms(pct(uptimes, 1)), ms(mean(uptimes)), sz.kills+1)
	s.res.note("%d conversations finished on a later attempt (a kill landed mid-job and the restarted worker resumed it); analyses cut off by a kill log nothing, so the dup calls column counts only those that finished", resumed)
	s.res.note("job outcomes across incarnations: %v", ls.outcomes)
	s.res.note("create latency: %s", latencies(p.latencies))
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// TestRedisRestart restarts Redis (append-only file, fsync always) in the
// middle of a stream of creates: every create answers 201 and every
// conversation is processed, each result written once.
func TestRedisRestart(t *testing.T) {
	s := newScenario(t, "Redis restart mid-run (AOF)")
	redis := testenv.StartRedis(t, testenv.WithAppendOnly())
	addr := freeAddr(t)
	env := recallEnv("REDIS_URL="+redis.URL(), "RECALL_SWEEP_EVERY=500ms", "RECALL_STALE_AFTER=2s",
		"RECALL_RETRY_BASE=100ms", "RECALL_ANALYZER_LATENCY=5ms")
	api := s.serve(addr, env, "--data", t.TempDir(), "--grace", "5s")
	c := newClient("http://"+addr, token(t, "chaos-restart"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	span := 5 * time.Second
	p := produce(ctx, c, "restart", sz.restartConvs, float64(sz.restartConvs)/span.Seconds(), 8, false)
	time.Sleep(span / 3)
	down := time.Now()
	redis.Restart()
	up := time.Now()
	p.wait()
	final := c.settle(t, p.accepted(), sz.settleWithin)
	settled := time.Since(up)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	s.account(p.accepted(), final, ls)
	if n := p.totalRefused(); n > 0 {
		t.Errorf("%d creates were not answered 201 around the restart: %s", n, p.refused())
	}
	s.res.note("Redis down for %s (SIGTERM, restart on the same port, AOF replayed); creates meanwhile: %s",
		up.Sub(down).Round(time.Millisecond), latencies(p.window(down, up.Add(time.Second))))
	s.res.note("create latency overall: %s; all processed %s after Redis returned", latencies(p.latencies), settled.Round(100*time.Millisecond))
	s.res.note("job outcomes: %v", ls.outcomes)
}

// TestRedisOutage stops Redis for RECALL_CHAOS_REDIS_OUTAGE while creates
// keep coming: every create answers 201 (the conversation is durable; the
// sweeper enqueues it later) and everything is processed once Redis is back.
func TestRedisOutage(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("Redis stopped for %s", sz.redisOutage))
	redis := testenv.StartRedis(t, testenv.WithAppendOnly())
	addr := freeAddr(t)
	env := recallEnv("REDIS_URL="+redis.URL(), "RECALL_SWEEP_EVERY=500ms", "RECALL_STALE_AFTER=2s",
		"RECALL_RETRY_BASE=100ms", "RECALL_ANALYZER_LATENCY=5ms")
	api := s.serve(addr, env, "--data", t.TempDir(), "--grace", "5s")
	c := newClient("http://"+addr, token(t, "chaos-outage"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lead, trail := 2*time.Second, 2*time.Second
	n := int((lead + sz.redisOutage + trail).Seconds() * float64(sz.outageRate))
	p := produce(ctx, c, "outage", n, float64(sz.outageRate), 4, false)
	time.Sleep(lead)
	down := time.Now()
	redis.Stop()
	time.Sleep(sz.redisOutage)
	redis.Restart()
	up := time.Now()
	p.wait()
	final := c.settle(t, p.accepted(), sz.settleWithin)
	settled := time.Since(up)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	s.account(p.accepted(), final, ls)
	if k := p.totalRefused(); k > 0 {
		t.Errorf("%d creates were not answered 201 while Redis was down: %s", k, p.refused())
	}
	during := p.window(down, up)
	s.res.note("%d creates while Redis was down, all 201: %s", len(during), latencies(during))
	s.res.note("everything processed %s after Redis returned (creates went on for %s after; sweeper every 500ms, stale after 2s; the sweepers made %d re-enqueue calls, no-ops for jobs the queue still held)",
		settled.Round(100*time.Millisecond), trail, ls.swept)
	s.res.note("job outcomes: %v", ls.outcomes)
}

// TestStoreOutage kills the DynamoDB-API store (dynalite on disk) while
// clients create with Idempotency-Keys, and starts it again. While it is
// down creates answer 503 "unavailable" with a message saying to retry; the
// clients retry each refused create with the same key, and each key must
// end up as exactly one conversation, whole, and processed.
func TestStoreOutage(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("store killed for %s during creates", sz.storeDown))
	dyn := startDynalite(t, s.dir, false)
	addr := freeAddr(t)
	env := recallEnv(append(dynamoEnv(dyn.Endpoint(), "chaos-store"), "RECALL_DATA_DIR="+t.TempDir(),
		"RECALL_SWEEP_EVERY=500ms", "RECALL_STALE_AFTER=2s", "RECALL_RETRY_BASE=100ms", "RECALL_RETRY_MAX=1s")...)
	api := s.serve(addr, env, "--grace", "5s")
	c := newClient("http://"+addr, token(t, "chaos-store"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lead, trail := 1500*time.Millisecond, 2*time.Second
	rate := 40.0
	n := int((lead + sz.storeDown + trail).Seconds() * rate)
	p := produce(ctx, c, "store", n, rate, sz.storeClients, true)
	time.Sleep(lead)
	down := time.Now()
	dyn.Kill()
	time.Sleep(sz.storeDown)
	dyn.Start()
	up := time.Now()
	p.wait()
	final := c.settle(t, p.accepted(), sz.settleWithin)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	s.account(p.accepted(), final, ls)

	// Every key is exactly one whole conversation with what was sent.
	byTitle := map[string][]string{}
	for _, v := range final {
		byTitle[v.Title] = append(byTitle[v.Title], v.ID)
		if !strings.HasPrefix(v.Content, v.Title+".") || v.PostType != "update" || v.CreatedAt == "" {
			t.Errorf("conversation %s is not whole: title %q, content %q, post_type %q", v.ID, v.Title, truncate(v.Content, 60), v.PostType)
		}
	}
	for i := range n {
		key := p.title(i)
		ids := byTitle[key]
		switch {
		case len(ids) == 0:
			t.Errorf("key %s: no conversation after retries", key)
		case len(ids) > 1:
			t.Errorf("key %s: %d conversations %v, want exactly one", key, len(ids), ids)
		case ids[0] != p.byKey[key]:
			t.Errorf("key %s: stored %s but the create answered %s", key, ids[0], p.byKey[key])
		}
	}
	if len(p.unsettled) > 0 {
		t.Errorf("%d keys were never accepted, e.g. %s", len(p.unsettled), p.unsettled[0])
	}
	// The only refusal allowed is the documented 503.
	p.mu.Lock()
	unavailable := p.refusals["503 unavailable"]
	for kind, k := range p.refusals {
		if kind != "503 unavailable" {
			t.Errorf("%d creates answered %s while the store was down, e.g. %s", k, kind, p.samples[kind])
		}
	}
	sample := p.samples["503 unavailable"]
	p.mu.Unlock()
	if unavailable == 0 {
		t.Errorf("no create was refused while the store was down for %s", sz.storeDown)
	}
	if sample != "" && !(strings.Contains(sample, "unavailable") && strings.Contains(sample, "retry")) {
		t.Errorf("a 503 does not say what happened and what to do: %s", sample)
	}
	s.res.note("%d creates refused 503 unavailable while the store was down; e.g. %s", unavailable, sample)
	s.res.note("refused attempts took %s", latencies(refusedLatencies(p)))
	s.res.note("%d keys, %d conversations, one per key; %d retries answered Idempotent-Replayed (the first attempt had saved it)", n, len(final), p.replays)
	s.res.note("store down %s; first create after restart within %s; job outcomes: %v", up.Sub(down).Round(time.Millisecond), firstOKAfter(p, up), ls.outcomes)
}

func refusedLatencies(p *producer) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for _, s := range p.stamped {
		if s.status != http.StatusCreated {
			out = append(out, s.took)
		}
	}
	return out
}

func firstOKAfter(p *producer, t time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := time.Duration(-1)
	for _, s := range p.stamped {
		if s.status == http.StatusCreated && s.at.After(t) {
			if d := s.at.Add(s.took).Sub(t); best < 0 || d < best {
				best = d
			}
		}
	}
	if best < 0 {
		return "n/a"
	}
	return best.Round(time.Millisecond).String()
}

// TestSIGTERMUnderLoad stops `recall serve` (embedded store, in-process
// queue) with SIGTERM while creates and analyses are in flight, checks it
// exits 0 within its grace period, and starts it again on the same data.
// Clients retry refused creates with the same Idempotency-Key; nothing may
// be lost across the restarts and nothing written twice.
func TestSIGTERMUnderLoad(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("serve SIGTERM x%d under load", sz.sigterms))
	const grace = 5 * time.Second
	addr := freeAddr(t)
	data := t.TempDir()
	env := recallEnv("RECALL_SWEEP_EVERY=200ms", "RECALL_STALE_AFTER=1s", "RECALL_RETRY_BASE=100ms",
		"RECALL_ANALYZER_LATENCY=50ms", "RECALL_CONCURRENCY=4")
	flags := []string{"--data", data, "--grace", grace.String()}
	api := s.serve(addr, env, flags...)
	c := newClient("http://"+addr, token(t, "chaos-sigterm"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cycle := 2 * time.Second
	n := int((time.Duration(sz.sigterms)*cycle + 2*time.Second).Seconds() * float64(sz.sigtermRate))
	p := produce(ctx, c, "sigterm", n, float64(sz.sigtermRate), 16, true)
	var exits []time.Duration
	for range sz.sigterms {
		time.Sleep(cycle)
		at := time.Now()
		api.signal(syscall.SIGTERM)
		if !api.wait(2*grace + 5*time.Second) {
			t.Fatalf("%s still running %s after SIGTERM", api.name, 2*grace+5*time.Second)
		}
		took := api.exited.Sub(at)
		exits = append(exits, took)
		if code := api.exitCode(); code != 0 {
			t.Errorf("%s exited %d after SIGTERM:\n%s", api.name, code, api.tail())
		}
		if took > grace {
			t.Errorf("%s took %s to exit after SIGTERM; the grace period is %s", api.name, took, grace)
		}
		api = s.serve(addr, env, flags...)
	}
	p.wait()
	final := c.settle(t, p.accepted(), sz.settleWithin)
	stopClean(t, api, 2*grace)

	ls := s.logs()
	s.checkLogs(ls)
	s.account(p.accepted(), final, ls)
	if len(p.unsettled) > 0 {
		t.Errorf("%d creates never accepted, e.g. %s", len(p.unsettled), p.unsettled[0])
	}
	s.res.note("exit after SIGTERM (grace %s): %s", grace, latencies(exits))
	s.res.note("client retries while the API restarted: %s; %d answered Idempotent-Replayed", p.refused(), p.replays)
	s.res.note("the sweepers made %d re-enqueue calls (for jobs that died with the in-process queue; no-ops for jobs it still held)", ls.swept)
	s.res.note("job outcomes across incarnations: %v", ls.outcomes)
}

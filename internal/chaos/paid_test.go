package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/httpapi"
	"recall/internal/testenv"
)

// The scenarios in this file hold Recall to "analysed once at a time and
// paid for once": whatever races for a conversation, the model is called
// once per run. They run over Redis and dynalite, shared by every recall
// process, with the Bedrock wire fake as the model, whose record of calls
// is what the model calls column counts.

// sharedEnv starts Redis, dynalite and the model fake (answering after
// latency) and returns the environment of the scenario's recall processes.
func sharedEnv(t *testing.T, s *scenario, table string, latency time.Duration, extra ...string) ([]string, *modelFake) {
	t.Helper()
	redis := testenv.StartRedis(t)
	dyn := startDynalite(t, s.dir, true)
	fake := newModelFake(t, latency)
	env := append(dynamoEnv(dyn.Endpoint(), table), "REDIS_URL="+redis.URL())
	env = append(env, fake.env()...)
	return recallEnv(append(env, extra...)...), fake
}

// writeEvent writes an event for `recall invoke` and returns its path.
func writeEvent(t *testing.T, dir, name string, ev any) string {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// merged is the union of several producers' accepted ids.
func merged(ps ...*producer) map[string]bool {
	out := map[string]bool{}
	for _, p := range ps {
		for id := range p.accepted() {
			out[id] = true
		}
	}
	return out
}

// procKind is the name a process log was started under, without its
// incarnation number: "direct" for ".../direct-12.log".
func procKind(logPath string) string {
	base := strings.TrimSuffix(filepath.Base(logPath), ".log")
	if i := strings.LastIndexByte(base, '-'); i > 0 {
		return base[:i]
	}
	return base
}

// TestDrainsRaceDirectCalls races the process function's two ways in on the
// same conversations, as on Lambda when a scheduled drain is running while
// create's direct invocations arrive: per round, two `recall invoke process`
// with an EventBridge scheduled event and one with a direct event
// {"conversation_id", "owner"} per conversation, all started at once, over
// Redis and dynalite, the model answering in 300ms. Whichever attempt starts
// first holds the run; the other way in finds it held (or done) and leaves
// it. Exactly one model call per conversation, every one done.
func TestDrainsRaceDirectCalls(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("drains race direct calls on %d (leases)", sz.leaseConvs))
	const owner = "chaos-lease"
	env, fake := sharedEnv(t, s, "chaos-lease", 300*time.Millisecond, "RECALL_DATA_DIR="+t.TempDir(),
		"RECALL_ANALYZE_TIMEOUT=10s", "RECALL_STALE_AFTER=1m", "RECALL_RETRY_BASE=100ms", "RECALL_RETRY_MAX=1s")
	addr := freeAddr(t)
	api := s.serve(addr, env, "--no-worker", "--grace", "5s")
	c := newClient("http://"+addr, token(t, owner))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	scheduled := writeEvent(t, s.dir, "scheduled", map[string]any{"version": "0", "source": "aws.events",
		"detail-type": "Scheduled Event", "detail": map[string]any{}})
	invoke := func(name, event string) *proc {
		return s.start(name, env, "invoke", "process", "--event", event, "--timeout", "40s")
	}
	var ps []*producer
	for done := 0; done < sz.leaseConvs; done += sz.leaseRound {
		p := produce(ctx, c, fmt.Sprintf("lease%03d", done), min(sz.leaseRound, sz.leaseConvs-done), 0, 4, false)
		p.wait()
		ps = append(ps, p)
		// The direct calls are spread over about one model call's time,
		// so that some come before a drain takes the job, some while it
		// analyses, and some after.
		procs := []*proc{invoke("drain", scheduled), invoke("drain", scheduled)}
		for id := range p.accepted() {
			ev := writeEvent(t, s.dir, "direct-"+id, map[string]string{"conversation_id": id, "owner": owner})
			procs = append(procs, invoke("direct", ev))
			time.Sleep(300 * time.Millisecond / time.Duration(sz.leaseRound))
		}
		for _, pr := range procs {
			if !pr.wait(2 * time.Minute) {
				t.Fatalf("%s still running after 2m:\n%s", pr.name, pr.tail())
			}
			if code := pr.exitCode(); code != 0 {
				t.Errorf("%s exited %d:\n%s", pr.name, code, pr.tail())
			}
		}
	}
	accepted := merged(ps...)
	final := c.settle(t, accepted, 30*time.Second)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	s.countWire(fake, ps...)
	s.account(accepted, final, ls)
	for _, p := range ps {
		if n := p.totalRefused(); n > 0 {
			t.Errorf("%d creates refused: %s", n, p.refused())
		}
	}
	leaseReport(t, s, ls, fake, final)
}

// leaseReport says who analysed each conversation and how often the two
// ways in met: a direct call that met the drain's hold at its start (its
// delivery deferred), or found the run held before starting (skipped while
// the run was not done yet), and a drain delivery that met a direct call's
// hold. With no meeting at all the scenario proved nothing, and fails.
func leaseReport(t *testing.T, s *scenario, ls logStats, fake *modelFake, final map[string]httpapi.Conversation) {
	t.Helper()
	analysedBy := map[string]int{}
	for _, c := range fake.calls() {
		if c.OK {
			analysedBy[procKind(c.App)]++
		}
	}
	deferred := map[string]int{}
	for _, j := range ls.jobs {
		if j.Outcome == "deferred" {
			deferred[procKind(j.Log)]++
		}
	}
	heldSkips, doneSkips := 0, 0
	for _, pl := range ls.processes {
		if pl.Mode != "direct" || pl.Outcome != "skipped" {
			continue
		}
		v := final[pl.ConversationID]
		if at, err := time.Parse(time.RFC3339Nano, deref(v.ProcessedAt)); err == nil && at.After(pl.Time) {
			heldSkips++
		} else {
			doneSkips++
		}
	}
	met := deferred["direct"] + deferred["drain"] + heldSkips
	if met == 0 {
		t.Errorf("no direct call met a drain's hold, or the other way round: the race never happened, so nothing was shown")
	}
	s.res.note("analysed by a drain: %d, by a direct call: %d (model calls answered)", analysedBy["drain"], analysedBy["direct"])
	s.res.note("the two ways in met %d times: %d direct calls found the run held by a drain and left it (skipped before it was done), %d direct calls and %d drain deliveries met the other's hold at their start (deferred); %d direct calls found the run already done",
		met, heldSkips, deferred["direct"], deferred["drain"], doneSkips)
	s.res.note("job outcomes: %v", ls.outcomes)
}

// TestTwoWorkersOneDirectory starts two `recall worker` processes from the
// same directory with REDIS_URL and DYNAMODB_TABLE set and no consumer
// name given, so both ask Redis for the same default name (host and data
// directory). The second must take a name of its own: otherwise it would
// re-read the first one's pending entries and run its in-flight jobs. Every
// conversation done, one model call each, and no delivery ever meets a run
// another attempt holds (which is what two workers with one job look like).
func TestTwoWorkersOneDirectory(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("two workers from one directory, %d conversations", sz.pairConvs))
	env, fake := pairEnv(t, s, "chaos-pair", 100*time.Millisecond, 10*time.Second)
	addr := freeAddr(t)
	api := s.serve(addr, env, "--no-worker", "--grace", "5s")
	w1, w2 := s.worker(env), s.worker(env)
	c := newClient("http://"+addr, token(t, "chaos-pair"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := produce(ctx, c, "pair", sz.pairConvs, 40, 4, false)
	p.wait()
	final := c.settle(t, p.accepted(), sz.settleWithin)
	stopClean(t, w1, 10*time.Second)
	stopClean(t, w2, 10*time.Second)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	s.countWire(fake, p)
	s.account(p.accepted(), final, ls)
	if n := p.totalRefused(); n > 0 {
		t.Errorf("%d creates refused: %s", n, p.refused())
	}
	names := checkConsumers(t, ls, 2)
	if n := ls.outcomes["deferred"]; n > 0 {
		t.Errorf("%d deliveries met a run another attempt held: two workers had the same job at once", n)
	}
	per := map[string]int{}
	for _, c := range fake.calls() {
		if c.OK {
			per[c.App]++
		}
	}
	s.res.note("consumer names (asked for / held): %s", names)
	s.res.note("model calls by worker: %v; job outcomes: %v", per, ls.outcomes)
}

// pairEnv is the environment of two workers started from one directory:
// the scenario's processes run in one fresh working directory with neither
// RECALL_DATA_DIR nor RECALL_CONSUMER set, so every worker asks for the
// default consumer name made from the host and ./.recall there.
func pairEnv(t *testing.T, s *scenario, table string, latency, analyze time.Duration) ([]string, *modelFake) {
	t.Helper()
	s.cwd = t.TempDir()
	return sharedEnv(t, s, table, latency, "RECALL_ANALYZE_TIMEOUT="+analyze.String(), "RECALL_STALE_AFTER=1m",
		"RECALL_CONCURRENCY=4", "RECALL_RETRY_BASE=100ms", "RECALL_RETRY_MAX=1s")
}

// checkConsumers checks the workers' consumer registrations: every worker
// asked for one name, and no two live ones hold the same; want is how many
// registrations there must be at least. It returns them for the report.
func checkConsumers(t *testing.T, ls logStats, want int) string {
	t.Helper()
	asked, held, seen := map[string]bool{}, map[string]string{}, map[string]int{}
	for _, c := range ls.consumers {
		asked[c.AskedFor] = true
		who := strings.TrimSuffix(filepath.Base(c.Log), ".log")
		if prev, ok := held[c.Consumer]; ok && prev != who {
			t.Errorf("%s and %s both held the consumer name %s", prev, who, c.Consumer)
		}
		held[c.Consumer] = who
		seen[fmt.Sprintf("%s %s / %s", who, c.AskedFor, c.Consumer)]++
	}
	var parts []string
	for p, n := range seen {
		if n > 1 {
			p += fmt.Sprintf(" (%d times)", n)
		}
		parts = append(parts, p)
	}
	if len(ls.consumers) < want {
		t.Errorf("%d consumer registrations logged, want %d", len(ls.consumers), want)
	}
	if len(asked) != 1 {
		t.Errorf("the workers asked for %d different names, want one (the default, from the one directory)", len(asked))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// TestWorkerKilledBesideAnother is TestTwoWorkersOneDirectory with one of
// the workers SIGKILLed while it has model calls in flight and started
// again from the same directory. Everything ends done; the jobs the killed
// worker held are picked up again within the visibility timeout (its
// attempt's hold and its consumer's heartbeat both run out first). A
// model call more is excused only for a conversation the killed worker
// had an answer for; any other is duplicate work and fails.
func TestWorkerKilledBesideAnother(t *testing.T) {
	s := newScenario(t, "two workers from one directory, one SIGKILLed")
	s.killed = true
	const analyze, visibility = 5 * time.Second, 35 * time.Second // RECALL_VISIBILITY_TIMEOUT defaults to analyze + 30s
	env, fake := pairEnv(t, s, "chaos-pairkill", 300*time.Millisecond, analyze)
	addr := freeAddr(t)
	api := s.serve(addr, env, "--no-worker", "--grace", "5s")
	w1, w2 := s.worker(env), s.worker(env)
	c := newClient("http://"+addr, token(t, "chaos-pairkill"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n := sz.pairConvs / 2
	p := produce(ctx, c, "pairkill", n, 20, 4, false)
	killedAt := killMidCall(t, fake, w1, 30*time.Second)
	w3 := s.worker(env)
	p.wait()
	final := c.settle(t, p.accepted(), sz.settleWithin)
	for _, w := range []*proc{w2, w3, api} {
		stopClean(t, w, 10*time.Second)
	}

	ls := s.logs()
	s.checkLogs(ls)
	s.countWire(fake, p)
	s.account(p.accepted(), final, ls)
	names := checkConsumers(t, ls, 3)
	recovered, took := recovery(ls, fake, w1, p, final, killedAt)
	if took > visibility {
		t.Errorf("the killed worker's jobs were done again %s after the kill; the visibility timeout is %s", took, visibility)
	}
	s.res.note("worker-1 SIGKILLed with model calls in flight; its %d unfinished jobs (%s) were all done again %s after the kill (hold of a cut-off attempt %s + margin, consumer heartbeat 10s, visibility timeout %s)",
		len(recovered), strings.Join(recovered, " "), took.Round(100*time.Millisecond), analyze, visibility)
	s.res.note("consumer names (asked for / held): %s", names)
	s.res.note("job outcomes: %v", ls.outcomes)
}

// killMidCall waits until w has two model calls in flight and kills it
// with SIGKILL; it returns when.
func killMidCall(t *testing.T, fake *modelFake, w *proc, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(fake.inFlight(w.name)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%s never had two model calls in flight within %s", w.name, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	at := time.Now()
	w.kill()
	return at
}

// recovery finds the jobs the killed worker w left unfinished (it called
// the model for them and logged no done line) and how long after the kill
// the last of them was done.
func recovery(ls logStats, fake *modelFake, w *proc, p *producer, final map[string]httpapi.Conversation, killedAt time.Time) ([]string, time.Duration) {
	finished := map[string]bool{}
	for _, j := range ls.jobs {
		if j.Log == w.logPath && j.Outcome == "done" {
			finished[j.ConversationID] = true
		}
	}
	seen := map[string]bool{}
	var titles []string
	var took time.Duration
	for _, c := range fake.calls() {
		id := p.byKey[c.Title]
		if c.App != w.name || finished[id] || seen[id] {
			continue
		}
		seen[id] = true
		titles = append(titles, c.Title)
		if at, err := time.Parse(time.RFC3339Nano, deref(final[id].ProcessedAt)); err == nil {
			took = max(took, at.Sub(killedAt))
		}
	}
	slices.Sort(titles)
	return titles, took
}

// TestFairShare has one owner post a backlog (1,000 at full size) and a
// second owner post 10 right after, on one `recall serve` over Redis and
// dynalite, the model answering in 50ms at concurrency 4. The second
// owner's conversations must not wait behind the first one's backlog: all
// 10 done within 20% of the time the first owner's take.
func TestFairShare(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("fair share: %d from one owner, then 10 from another", sz.fairN))
	env, fake := sharedEnv(t, s, "chaos-fair", 50*time.Millisecond, "RECALL_DATA_DIR="+t.TempDir(),
		"RECALL_ANALYZE_TIMEOUT=10s", "RECALL_STALE_AFTER=1m", "RECALL_CONCURRENCY=4")
	addr := freeAddr(t)
	api := s.serve(addr, env, "--grace", "5s")
	ca, cb := newClient("http://"+addr, token(t, "chaos-fair-a")), newClient("http://"+addr, token(t, "chaos-fair-b"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a := produce(ctx, ca, "fairA", sz.fairN, 0, 16, false)
	a.wait()
	b := produce(ctx, cb, "fairB", 10, 0, 4, false)
	b.wait()
	finalB := cb.settle(t, b.accepted(), sz.settleWithin)
	final := ca.settle(t, a.accepted(), sz.settleWithin)
	stopClean(t, api, 10*time.Second)
	for id, v := range finalB {
		final[id] = v
	}

	ls := s.logs()
	s.checkLogs(ls)
	s.countWire(fake, a, b)
	s.account(merged(a, b), final, ls)
	for _, p := range []*producer{a, b} {
		if n := p.totalRefused(); n > 0 {
			t.Errorf("%d creates refused: %s", n, p.refused())
		}
	}
	fairReport(t, s, final, a.accepted(), b.accepted())
}

// fairReport compares the two owners' times to done: from each one's first
// created_at to its last processed_at, as the server stamped them.
func fairReport(t *testing.T, s *scenario, final map[string]httpapi.Conversation, a, b map[string]bool) {
	t.Helper()
	firstA, lastA := span(final, a)
	firstB, lastB := span(final, b)
	spanA, spanB := lastA.Sub(firstA), lastB.Sub(firstB)
	backlog := 0 // the first owner's conversations not yet done when the second's first was created
	for id := range a {
		if at, err := time.Parse(time.RFC3339Nano, deref(final[id].ProcessedAt)); err == nil && at.After(firstB) {
			backlog++
		}
	}
	if spanB > spanA/5 {
		t.Errorf("UNFAIR: the second owner's 10 took %s to be done, over 20%% of the first owner's %s", spanB, spanA)
	}
	if backlog < len(a)/4 {
		t.Errorf("only %d of the first owner's %d conversations were still waiting when the second owner posted: no backlog to be fair about", backlog, len(a))
	}
	s.res.note("owner A: %d conversations, all done %s after A's first create; time to done %s", len(a), spanA.Round(10*time.Millisecond), latencies(processedTimes(final, a)))
	s.res.note("owner B: 10 conversations posted when %d of A's were still waiting, all done %s after B's first create (%.0f%% of A's time; the limit is 20%%); time to done %s",
		backlog, spanB.Round(10*time.Millisecond), 100*spanB.Seconds()/spanA.Seconds(), latencies(processedTimes(final, b)))
	if lastB.Before(lastA) {
		s.res.note("B's last conversation was done %s before A's last", lastA.Sub(lastB).Round(10*time.Millisecond))
	} else {
		s.res.note("B's last conversation was done %s after A's last", lastB.Sub(lastA).Round(10*time.Millisecond))
	}
}

// span is the first created_at and the last processed_at among ids.
func span(final map[string]httpapi.Conversation, ids map[string]bool) (first, last time.Time) {
	for id := range ids {
		v := final[id]
		if c, err := time.Parse(time.RFC3339Nano, v.CreatedAt); err == nil && (first.IsZero() || c.Before(first)) {
			first = c
		}
		if d, err := time.Parse(time.RFC3339Nano, deref(v.ProcessedAt)); err == nil && d.After(last) {
			last = d
		}
	}
	return first, last
}

// TestReprocessStorm sends 20 reprocesses of one done conversation within
// one second, each on its own connection, while the model takes 2s over
// the conversation: the first starts a new run and every other one joins
// it (202 with the run in progress). One model call for the new run, never
// one per request.
func TestReprocessStorm(t *testing.T) {
	s := newScenario(t, "20 reprocesses of one conversation in 1s")
	env, fake := sharedEnv(t, s, "chaos-storm", 20*time.Millisecond, "RECALL_DATA_DIR="+t.TempDir(),
		"RECALL_ANALYZE_TIMEOUT=10s", "RECALL_STALE_AFTER=1m", "RECALL_CONCURRENCY=8")
	addr := freeAddr(t)
	api := s.serve(addr, env, "--grace", "5s")
	c := newClient("http://"+addr, token(t, "chaos-storm"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := produce(ctx, c, "storm", 1, 0, 1, false)
	p.wait()
	c.settle(t, p.accepted(), 30*time.Second)
	id := p.byKey[p.title(0)]
	fake.slowDown(p.title(0), 2*time.Second)

	var mu sync.Mutex
	answers := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 20 {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 50 * time.Millisecond)))
		wg.Go(func() {
			r := c.do(ctx, http.MethodPost, "/api/conversations/"+id+"/reprocess", nil, nil)
			mu.Lock()
			defer mu.Unlock()
			answers[fmt.Sprintf("%d %s", r.status, r.conv.AIStatus)]++
			if r.status != http.StatusAccepted {
				t.Errorf("reprocess %d: %s, want 202 with the run in progress", i, r)
			}
		})
	}
	wg.Wait()
	sent := time.Since(start)
	final := c.settle(t, p.accepted(), 30*time.Second)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	s.countWire(fake, p)
	s.runs = map[string]int{id: 2} // the create's run and the one the storm started
	s.account(p.accepted(), final, ls)
	s.res.note("20 reprocesses sent in %s, answered: %v; model calls for the conversation: %d (want 2: one for the create's run, one for the run the storm started, which took 2s)",
		sent.Round(10*time.Millisecond), answers, s.calls[id])
}

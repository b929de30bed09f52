package chaos

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/bedrock/bedrocktest"
)

// The chaos the model is put through: the rates.
const (
	modelThrottle        = 0.30
	noQuotaThrottle      = 0.10
	modelTimeout         = 0.05
	modelSchemaViolation = 0.05
)

var modelMarker = regexp.MustCompile(`model-(\d{5})`)

// poisoned picks one conversation in 25 whose every reply breaks the schema,
// so the run also proves the other end: attempts run out and the
// conversation fails with a reason instead of retrying forever.
func poisoned(marker string) bool {
	var i int
	_, err := fmt.Sscanf(marker, "model-%d", &i)
	return err == nil && i%25 == 7
}

// TestModelChaos runs `recall serve` with RECALL_AI=bedrock against the
// Bedrock wire fake, which throttles 30% of calls, answers
// ModelTimeoutException to 5% and a tool call that breaks the schema to 5%.
// Every conversation must end done, or failed with a reason; no run may
// spend more than RECALL_MAX_ATTEMPTS attempts on real failures, and the
// delays between attempts must stay within the configured backoff bounds
// (plus the worker's own queueing), all reported.
func TestModelChaos(t *testing.T) {
	// Both quotas configured (generously), so the limiter paces and every
	// ThrottlingException empties its buckets.
	modelChaos(t, "model chaos, quotas configured", modelThrottle, sz.modelConvs, sz.settleWithin, "BEDROCK_RPM=60000", "BEDROCK_TPM=100000000")
}

// TestModelChaosNoQuota is TestModelChaos with no quota configured (no
// BEDROCK_RPM or BEDROCK_TPM), which is how `recall serve` runs unless told
// one: the limiter does not pace, and a throttled job is retried by the
// queue without spending an attempt, after the backoff or its RetryAfter.
// It once found a hot loop, when the limiter learned a rate from the first
// throttles and refused to call the model: a job went round the queue at
// the base backoff, thousands of times per model call. The hot-loop check
// below holds that fixed. A short run, 10% of calls throttled; the 30% run
// is TestModelChaos's.
func TestModelChaosNoQuota(t *testing.T) {
	modelChaos(t, "model chaos, no quota configured, 10% throttled", noQuotaThrottle, 12, sz.noQuotaWithin)
}

func modelChaos(t *testing.T, name string, throttle float64, n int, within time.Duration, extraEnv ...string) {
	s := newScenario(t, name)
	s.allDone = false
	const (
		region     = "us-west-2"
		key        = "AKIDRECALLCHAOS"
		secret     = "recall-chaos-secret"
		retryBase  = 100 * time.Millisecond
		retryMax   = 2 * time.Second
		maxAttempt = 5
	)
	fake := bedrocktest.NewServer(t, bedrocktest.Options{Region: region, AccessKeyID: key, SecretAccessKey: secret})
	var mu sync.Mutex
	seqAt := map[int]time.Time{}
	chaos := bedrocktest.Chaos{Throttle: throttle, Timeout: modelTimeout, SchemaViolation: modelSchemaViolation, Seed: 20261129}.Hook()
	fake.SetHook(func(r *bedrocktest.Request) bedrocktest.Behavior {
		mu.Lock()
		seqAt[r.Seq] = time.Now()
		mu.Unlock()
		if poisoned(modelMarker.FindString(r.UserText())) {
			return bedrocktest.ToolInput(`{"summary": ["not", "a", "string"]}`)
		}
		return chaos(r)
	})
	addr := freeAddr(t)
	env := recallEnv("RECALL_AI=bedrock", "AWS_REGION="+region, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME="+fake.URL,
		"AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+secret,
		"RECALL_RETRY_BASE="+retryBase.String(), "RECALL_RETRY_MAX="+retryMax.String(), fmt.Sprintf("RECALL_MAX_ATTEMPTS=%d", maxAttempt),
		"RECALL_ANALYZE_TIMEOUT=10s", "RECALL_SWEEP_EVERY=1s", "RECALL_STALE_AFTER=30s", "RECALL_CONCURRENCY=8")
	env = append(env, extraEnv...)
	api := s.serve(addr, env, "--data", t.TempDir(), "--grace", "5s")
	c := newClient("http://"+addr, token(t, "chaos-model"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := produce(ctx, c, "model", n, 30, 4, false)
	p.wait()
	final := c.settle(t, p.accepted(), within)
	stopClean(t, api, 10*time.Second)

	ls := s.logs()
	s.checkLogs(ls)
	// Model calls answered with a valid analysis, per conversation: the
	// throttles, timeouts and broken replies around them are retries, but
	// two valid answers for one run would be one analysis paid twice.
	s.calls = map[string]int{}
	for _, r := range fake.Requests() {
		if id, ok := p.byKey[modelMarker.FindString(r.UserText())]; ok && r.Status == 200 && r.Behavior == "echo" {
			s.calls[id]++
		}
	}
	s.account(p.accepted(), final, ls)
	if n := p.totalRefused(); n > 0 {
		t.Errorf("%d creates refused: %s", n, p.refused())
	}
	reasons := map[string]int{}
	poison := 0
	for id, key := range p.ids {
		v := final[id]
		if v.AIStatus == "failed" && v.AIError != nil {
			reasons[truncate(*v.AIError, 100)]++
		}
		switch {
		case poisoned(key):
			poison++
			if v.AIStatus != "failed" || v.AIError == nil || !strings.Contains(*v.AIError, fmt.Sprintf("after %d attempts", maxAttempt)) {
				t.Errorf("%s (%s), whose every reply breaks the schema, ended %s: %s", id, key, v.AIStatus, deref(v.AIError))
			}
		case v.AIStatus == "failed":
			t.Errorf("%s (%s) failed: %v", id, key, *v.AIError)
		}
	}

	// What the model was asked and answered, per conversation, in order.
	type call struct {
		at       time.Time
		behavior string
	}
	calls := map[string][]call{}
	kinds := map[string]int{}
	mu.Lock()
	for _, r := range fake.Requests() {
		m := modelMarker.FindString(r.UserText())
		if m == "" {
			t.Errorf("model call #%d names no conversation", r.Seq)
			continue
		}
		calls[m] = append(calls[m], call{seqAt[r.Seq], r.Behavior})
		kinds[r.Behavior]++
	}
	mu.Unlock()
	var perConv []int
	maxCalls, maxReal := 0, 0
	for m, cs := range calls {
		slices.SortFunc(cs, func(a, b call) int { return a.at.Compare(b.at) })
		calls[m] = cs
		real := 0
		for _, c := range cs {
			if c.behavior != "error:ThrottlingException" && c.behavior != "echo" {
				real++
			}
		}
		perConv = append(perConv, len(cs))
		maxCalls, maxReal = max(maxCalls, len(cs)), max(maxReal, real)
	}
	if maxReal > maxAttempt {
		t.Errorf("a conversation had %d failed model calls that spent attempts; RECALL_MAX_ATTEMPTS is %d", maxReal, maxAttempt)
	}
	if len(calls) != len(p.accepted()) {
		t.Errorf("the model saw %d conversations, %d were accepted", len(calls), len(p.accepted()))
	}

	// Delays the worker put between attempts: from the end of a job that
	// retried to the start of the next job for the same conversation.
	byConv := map[string][]jobLine{}
	for _, j := range ls.jobs {
		byConv[j.ConversationID] = append(byConv[j.ConversationID], j)
	}
	delays := map[string][]time.Duration{}
	retries := map[string]int{}
	for _, js := range byConv {
		slices.SortFunc(js, func(a, b jobLine) int { return a.Time.Compare(b.Time) })
		for i, j := range js {
			retries[j.Outcome]++
			if i+1 < len(js) && (j.Outcome == "retry" || j.Outcome == "throttled") {
				next := js[i+1]
				start := next.Time.Add(-time.Duration(next.DurationMS) * time.Millisecond)
				delays[j.Outcome] = append(delays[j.Outcome], start.Sub(j.Time))
			}
		}
	}
	if d := pct(delays["retry"], 1); d > retryMax+5*time.Second {
		t.Errorf("a retry waited %s; RECALL_RETRY_MAX is %s", d, retryMax)
	}
	s.res.note("model calls: %d (%s); per conversation: mean %.1f, max %d; most attempt-spending failures in one run: %d of %d allowed",
		len(fake.Requests()), fmtKinds(kinds), meanInt(perConv), maxCalls, maxReal, maxAttempt)
	s.res.note("job outcomes: %v", ls.outcomes)
	if paced := ls.outcomes["throttled"] - kinds["error:ThrottlingException"]; paced > 0 {
		if perCall := paced / max(len(fake.Requests()), 1); perCall > 20 {
			t.Errorf("hot loop: %d jobs were requeued because the analyzer's limiter would not call the model (a wait past the deadline → ETHROTTLED → requeued, no attempt spent), %d per model call",
				paced, perCall)
		}
		s.res.note("%d throttled outcomes had no model call behind them: the analyzer's limiter refused to call (a wait beyond the analysis deadline) and the job was requeued after the wait without spending an attempt, i.e. %.0f requeues per model call",
			paced, float64(paced)/float64(max(len(fake.Requests()), 1)))
	}
	s.res.note("delay before the next attempt after a retry (backoff %s..%s, jittered): %s", retryBase, retryMax, latencies(delays["retry"]))
	s.res.note("delay before the next attempt after a throttle (no attempt spent; includes the analyzer's pacing): %s", latencies(delays["throttled"]))
	s.res.note("%d poisoned conversations (every reply breaks the schema) must fail after %d attempts; failed with reasons: %v", poison, maxAttempt, reasons)
	s.res.note("time to processed: %s", latencies(processedTimes(final, p.accepted())))
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func fmtKinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", strings.TrimPrefix(k, "error:"), m[k])
	}
	return strings.Join(parts, ", ")
}

func meanInt(xs []int) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0
	for _, x := range xs {
		sum += x
	}
	return float64(sum) / float64(len(xs))
}

package redisq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
	"recall/internal/recall/recalltest"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

var prefixSeq atomic.Int64

// uniquePrefix keeps tests sharing one server out of each other's keys.
func uniquePrefix() string {
	return fmt.Sprintf("t%d-%d", os.Getpid(), prefixSeq.Add(1))
}

func client(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	c, err := redisq.NewClient(url, redisq.ClientOptions{})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newQueue is redisq.New, closed when the test ends.
func newQueue(t testing.TB, c redis.UniversalClient, opts redisq.Options) *redisq.Queue {
	t.Helper()
	q := redisq.New(c, opts)
	t.Cleanup(func() { q.Close() })
	return q
}

func job(id string, p recall.Priority) recall.Job {
	return recall.Job{ConversationID: id, Owner: "owner", Run: 1, Priority: p, Attempt: 1, EnqueuedAt: time.Now().UTC()}
}

func TestQueueSuite(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	recalltest.Queue(t, func(t *testing.T, visibility time.Duration) recall.Queue {
		return newQueue(t, c, redisq.Options{Prefix: uniquePrefix(), Visibility: visibility})
	})
}

func TestQueueSuiteCluster(t *testing.T) {
	t.Parallel()
	cl := testenv.StartRedisCluster(t)
	addrs := cl.Addrs()
	url := "redis://" + addrs[0] + "?cluster=true&addr=" + addrs[1] + "&addr=" + addrs[2]
	c := client(t, url)
	if _, ok := c.(*redis.ClusterClient); !ok {
		t.Fatalf("NewClient(%s) = %T, want a cluster client", url, c)
	}
	recalltest.Queue(t, func(t *testing.T, visibility time.Duration) recall.Queue {
		return newQueue(t, c, redisq.Options{Prefix: uniquePrefix(), Visibility: visibility})
	})
}

// TestRetryDoesNotBlockConsumer checks a job waiting out a long retry delay
// sits in Redis, not in a consumer: other jobs flow past it at once.
func TestRetryDoesNotBlockConsumer(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix(), Visibility: time.Minute})
	ctx := ctxT(t)
	slow := job("slow", recall.PriorityHigh)
	if err := q.Enqueue(ctx, slow); err != nil {
		t.Fatal(err)
	}
	got, err := q.Receive(ctx, 1, time.Second)
	if err != nil || len(got) != 1 {
		t.Fatalf("Receive = %v, %v", got, err)
	}
	got[0].Attempt = 2
	if err := q.Retry(ctx, got[0], time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := c.ZCard(ctx, q.Keys()[4]).Result(); err != nil || n != 1 {
		t.Errorf("retry set holds %d, %v; want the retried job", n, err)
	}
	for i := range 5 {
		j := job(fmt.Sprintf("fast-%d", i), recall.PriorityLow)
		if err := q.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		r, err := q.Receive(ctx, 1, 5*time.Second)
		if err != nil || len(r) != 1 || r[0].ConversationID != j.ConversationID {
			t.Fatalf("Receive = %v, %v; want %s", r, err, j.ConversationID)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("a job behind a scheduled retry took %s", took)
		}
		if err := q.Ack(ctx, r...); err != nil {
			t.Fatal(err)
		}
	}
	st, err := q.Stats(ctx)
	if err != nil || st.Scheduled != 1 {
		t.Errorf("Stats = %+v, %v; want one scheduled", st, err)
	}
}

// TestResumeOwnPending: a second process asking for a live worker's name
// gets another name and none of its jobs; a worker restarted under the
// same name after a graceful stop gets its unacked jobs back at once, long
// before the visibility timeout, while another consumer does not see them.
func TestResumeOwnPending(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	prefix := uniquePrefix()
	opts := redisq.Options{Prefix: prefix, Consumer: "worker-a", Visibility: time.Hour}
	ctx := ctxT(t)

	before := newQueue(t, client(t, srv.URL()), opts)
	for i := range 5 {
		if err := before.Enqueue(ctx, job(fmt.Sprintf("c%d", i), recall.Priorities[i%3])); err != nil {
			t.Fatal(err)
		}
	}
	held, err := before.Receive(ctx, 3, time.Second)
	if err != nil || len(held) != 3 {
		t.Fatalf("Receive = %d jobs, %v; want 3", len(held), err)
	}
	if before.Consumer() != "worker-a" {
		t.Fatalf("first consumer holds %q, want the name it asked for", before.Consumer())
	}

	other := newQueue(t, client(t, srv.URL()), redisq.Options{Prefix: prefix, Consumer: "worker-b", Visibility: time.Hour})
	rest, err := other.Receive(ctx, 10, 200*time.Millisecond)
	if err != nil || len(rest) != 2 {
		t.Fatalf("other consumer got %d jobs, %v; want the 2 never delivered", len(rest), err)
	}

	// A second process from the same directory, while the first lives.
	twin := newQueue(t, client(t, srv.URL()), opts)
	if r, err := twin.Receive(ctx, 10, 200*time.Millisecond); err != nil || len(r) != 0 {
		t.Fatalf("a second process under a live worker's name got %d jobs, %v; want none", len(r), err)
	}
	if twin.Consumer() == "worker-a" || !strings.HasPrefix(twin.Consumer(), "worker-a-") {
		t.Errorf("second process holds %q, want worker-a with a suffix", twin.Consumer())
	}
	if err := twin.Close(); err != nil {
		t.Fatal(err)
	}

	// "Restart": a graceful stop, then a new Queue (new client, fresh
	// state) asking for the same name.
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	after := newQueue(t, client(t, srv.URL()), opts)
	var back []recall.Job
	for range 3 {
		r, err := after.Receive(ctx, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, r...)
	}
	if len(back) != 3 || after.Consumer() != "worker-a" {
		t.Fatalf("restarted consumer %q got %d jobs back, want worker-a and its 3", after.Consumer(), len(back))
	}
	want := map[string]string{}
	for _, j := range held {
		want[j.ConversationID] = j.Receipt
	}
	for _, j := range back {
		if want[j.ConversationID] != j.Receipt {
			t.Errorf("resumed %s with receipt %q, want %q", j.ConversationID, j.Receipt, want[j.ConversationID])
		}
		delete(want, j.ConversationID)
	}
	if err := after.Ack(ctx, back...); err != nil {
		t.Fatal(err)
	}
	if r, err := after.Receive(ctx, 10, 100*time.Millisecond); err != nil || len(r) != 0 {
		t.Errorf("after resuming, Receive = %d jobs, %v; want none", len(r), err)
	}
}

// TestReclaimFromDeadConsumer: a consumer takes a job and goes silent;
// another takes it over after the visibility timeout, not before.
func TestReclaimFromDeadConsumer(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	prefix := uniquePrefix()
	const vis = 800 * time.Millisecond
	dead := redisq.New(c, redisq.Options{Prefix: prefix, Consumer: "dead", Visibility: vis})
	live := redisq.New(c, redisq.Options{Prefix: prefix, Consumer: "live", Visibility: vis})
	ctx := ctxT(t)
	if err := dead.Enqueue(ctx, job("orphan", recall.PriorityDefault)); err != nil {
		t.Fatal(err)
	}
	taken, err := dead.Receive(ctx, 1, time.Second)
	if err != nil || len(taken) != 1 {
		t.Fatalf("Receive = %v, %v", taken, err)
	}
	start := time.Now()
	if r, err := live.Receive(ctx, 1, 300*time.Millisecond); err != nil || len(r) != 0 {
		t.Fatalf("live consumer got %d jobs before the timeout (%v)", len(r), err)
	}
	r, err := live.Receive(ctx, 1, 5*time.Second)
	if err != nil || len(r) != 1 || r[0].ConversationID != "orphan" {
		t.Fatalf("live consumer Receive = %v, %v; want the orphan", r, err)
	}
	if took := time.Since(start); took < vis-300*time.Millisecond {
		t.Errorf("reclaimed after %s, before the %s visibility timeout", took, vis)
	}
	st, err := live.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var owner string
	for _, cs := range st.Consumers {
		if cs.Pending > 0 {
			owner = cs.Name
		}
	}
	if owner != "live" || st.InFlight != 1 {
		t.Errorf("after reclaim: in flight %d held by %q; want 1 by live (%+v)", st.InFlight, owner, st.Consumers)
	}
	if err := live.Ack(ctx, r...); err != nil {
		t.Fatal(err)
	}
	if err := dead.Ack(ctx, taken...); err != nil { // the late ack is harmless
		t.Fatal(err)
	}
	if st, err := live.Stats(ctx); err != nil || st.InFlight != 0 || st.Depth[recall.PriorityDefault] != 0 {
		t.Errorf("after acks: %+v, %v", st, err)
	}
}

const helperEnv = "RECALL_REDISQ_HELPER"

// TestHelperConsumer is not a test: it is the child process of
// TestConsumerKilledMidJob, a consumer that takes two jobs, writes the
// first one's result, reports, and waits to be killed before acking.
func TestHelperConsumer(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestConsumerKilledMidJob")
	}
	ctx := context.Background()
	c, err := redisq.NewClient(os.Getenv("HELPER_REDIS_URL"), redisq.ClientOptions{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	q := redisq.New(c, redisq.Options{Prefix: os.Getenv("HELPER_PREFIX"), Consumer: "child", Visibility: time.Second})
	jobs, err := q.Receive(ctx, 2, 10*time.Second)
	if err != nil || len(jobs) != 2 {
		fmt.Println("error", len(jobs), err)
		os.Exit(2)
	}
	// The first job's result is stored, the second's is not; neither is acked.
	if err := c.SetNX(ctx, "effect:"+jobs[0].ConversationID, "child", 0).Err(); err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("holding", jobs[0].ConversationID, jobs[1].ConversationID)
	time.Sleep(time.Minute)
	os.Exit(3)
}

// TestConsumerKilledMidJob runs a real second process that takes two jobs,
// stores one result and is killed with SIGKILL before acking. Another
// consumer gets both jobs after the visibility timeout, and with the
// store's conditional write each job takes effect exactly once.
func TestConsumerKilledMidJob(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	prefix := uniquePrefix()
	ctx := ctxT(t)
	q := redisq.New(c, redisq.Options{Prefix: prefix, Consumer: "parent", Visibility: time.Second})
	for _, id := range []string{"j1", "j2"} {
		if err := q.Enqueue(ctx, job(id, recall.PriorityDefault)); err != nil {
			t.Fatal(err)
		}
	}

	cmd := startHelper(t, "TestHelperConsumer", helperEnv, srv.URL(), prefix)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}

	// The parent handles whatever comes back, storing results with a
	// conditional write like the real store.
	effects := map[string]int{}
	deliveries := 0
	deadline := time.Now().Add(20 * time.Second)
	for len(effects) < 2 && time.Now().Before(deadline) {
		jobs, err := q.Receive(ctx, 2, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			deliveries++
			ok, err := c.SetNX(ctx, "effect:"+j.ConversationID, "parent", 0).Result()
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				effects[j.ConversationID]++
			} else {
				effects[j.ConversationID] += 0
			}
			if err := q.Ack(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	if deliveries != 2 {
		t.Errorf("parent got %d deliveries, want both jobs once", deliveries)
	}
	for id, want := range map[string]string{"j1": "child", "j2": "parent"} {
		if v, err := c.Get(ctx, "effect:"+id).Result(); err != nil || v != want {
			t.Errorf("effect of %s = %q, %v; want written once by %s", id, v, err, want)
		}
	}
	if r, err := q.Receive(ctx, 10, 1500*time.Millisecond); err != nil || len(r) != 0 {
		t.Errorf("after acks Receive = %d jobs, %v; want none", len(r), err)
	}
	st, err := q.Stats(ctx)
	if err != nil || st.InFlight != 0 || st.Depth[recall.PriorityDefault] != 0 {
		t.Errorf("Stats = %+v, %v; want an empty queue", st, err)
	}
}

// TestRedisRestartDuringRun stops and restarts Redis (with an fsynced AOF)
// in the middle of 500 enqueue-and-process cycles. Callers retry what
// failed, as the service does; nothing may be lost, every job must take
// effect exactly once, and the queue must end empty.
func TestRedisRestartDuringRun(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithAppendOnly())
	c := client(t, srv.URL())
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix(), Visibility: 2 * time.Second})
	ctx := ctxT(t)
	const total = 500

	var mu sync.Mutex
	effects := map[string]int{} // the "store": a conditional write per job
	deliveries := 0
	done := make(chan struct{})
	var restarted atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // the simple loop: receive, store, ack
		for {
			select {
			case <-done:
				return
			default:
			}
			jobs, err := q.Receive(ctx, 8, 200*time.Millisecond)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			mu.Lock()
			for _, j := range jobs {
				deliveries++
				if effects[j.ConversationID] == 0 {
					effects[j.ConversationID] = 1
				}
			}
			n := len(effects)
			mu.Unlock()
			for q.Ack(ctx, jobs...) != nil {
				time.Sleep(50 * time.Millisecond)
			}
			if n == total {
				close(done)
				return
			}
		}
	})
	for i := range total {
		if i == total/2 {
			srv.Stop()
			wg.Go(func() {
				time.Sleep(500 * time.Millisecond)
				srv.Restart()
				restarted.Store(true)
			})
		}
		j := job(fmt.Sprintf("conv-%03d", i), recall.Priorities[i%3])
		for {
			err := q.Enqueue(ctx, j)
			if err == nil {
				break
			}
			if recall.ErrorCode(err) != recall.EUNAVAILABLE {
				t.Fatalf("Enqueue while Redis is down = %v, want %s", err, recall.EUNAVAILABLE)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		mu.Lock()
		n := len(effects)
		mu.Unlock()
		t.Fatalf("only %d of %d jobs processed", n, total)
	}
	wg.Wait()
	if !restarted.Load() {
		t.Fatal("Redis was never restarted")
	}
	mu.Lock()
	t.Logf("%d deliveries for %d jobs", deliveries, total)
	mu.Unlock()
	for i := range total {
		if id := fmt.Sprintf("conv-%03d", i); effects[id] != 1 {
			t.Errorf("job %s took effect %d times", id, effects[id])
		}
	}
	// Redeliveries of jobs whose ack was lost in the outage are acked too;
	// wait for any still hidden, then check nothing is left anywhere.
	for {
		jobs, err := q.Receive(ctx, 64, 2500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			if effects[j.ConversationID] != 1 {
				t.Errorf("late redelivery of unknown job %s", j.ConversationID)
			}
		}
		if err := q.Ack(ctx, jobs...); err != nil {
			t.Fatal(err)
		}
	}
	assertEmpty(t, c, q)
}

// assertEmpty checks the queue holds nothing, down to its Redis keys: acked
// entries are deleted and job keys released, so memory stays bounded.
func assertEmpty(t *testing.T, c redis.UniversalClient, q *redisq.Queue) {
	t.Helper()
	ctx := ctxT(t)
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.InFlight != 0 || st.Scheduled != 0 || st.Depth[recall.PriorityHigh]+st.Depth[recall.PriorityDefault]+st.Depth[recall.PriorityLow] != 0 {
		t.Errorf("queue not empty: %+v", st)
	}
	keys := q.Keys()
	for _, k := range append(keys[:3:3], keys[6:9]...) {
		if n, err := c.XLen(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("stream %s holds %d entries (%v), want 0", k, n, err)
		}
	}
	if n, err := c.HLen(ctx, keys[3]).Result(); err != nil || n != 0 {
		t.Errorf("jobs hash holds %d keys (%v), want 0", n, err)
	}
	if n, err := c.Exists(ctx, keys[9]).Result(); err != nil || n != 0 {
		t.Errorf("owners hash exists (%d, %v) with no job outstanding", n, err)
	}
}

// countHook counts round trips: one per command, one per pipeline.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestRoundTrips holds the queue to one round trip each for enqueue,
// receive and ack of a job, and checks nothing is left behind.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	hook := &countHook{}
	c.AddHook(hook)
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix(), Visibility: time.Minute})
	ctx := ctxT(t)
	cycle := func(id string) {
		t.Helper()
		if err := q.Enqueue(ctx, job(id, recall.PriorityDefault)); err != nil {
			t.Fatal(err)
		}
		jobs, err := q.Receive(ctx, 1, time.Second)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("Receive = %v, %v", jobs, err)
		}
		if err := q.Ack(ctx, jobs...); err != nil {
			t.Fatal(err)
		}
	}
	cycle("warm-up") // loads the scripts and creates the groups
	hook.n.Store(0)
	const jobs = 50
	for i := range jobs {
		cycle(fmt.Sprintf("c%d", i))
	}
	// Reclaiming idle entries costs trips of its own, but only once per
	// ReclaimEvery (15s here, so once, in the warm-up), and resuming this
	// consumer's pending entries only until a Receive has found none.
	if got := hook.n.Load(); got > 3*jobs {
		t.Errorf("%d round trips for %d jobs, want at most 3 per job", got, jobs)
	}
	t.Logf("%d round trips for %d jobs", hook.n.Load(), jobs)
	assertEmpty(t, c, q)
}

// TestRedisDown checks every method fails fast with EUNAVAILABLE while
// Redis is unreachable, instead of hanging or hot-looping.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithAppendOnly())
	c := client(t, srv.URL())
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix()})
	ctx := ctxT(t)
	if err := q.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	j := job("down", recall.PriorityHigh)
	j.Receipt = "h:1-0"
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Enqueue", func() error { return q.Enqueue(ctx, j) }},
		{"Receive", func() error { _, err := q.Receive(ctx, 1, 10*time.Second); return err }},
		{"Ack", func() error { return q.Ack(ctx, j) }},
		{"Retry", func() error { return q.Retry(ctx, j, time.Second) }},
		{"DeadLetter", func() error { return q.DeadLetter(ctx, j, "x") }},
		{"Stats", func() error { _, err := q.Stats(ctx); return err }},
		{"Ping", func() error { return q.Ping(ctx) }},
		{"DeadLetters", func() error { _, err := q.DeadLetters(ctx, 10); return err }},
		{"Redrive", func() error { _, err := q.Redrive(ctx, nil); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := c.fn()
			if recall.ErrorCode(err) != recall.EUNAVAILABLE {
				t.Errorf("%s with Redis down = %v, want %s", c.name, err, recall.EUNAVAILABLE)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("%s took %s to fail", c.name, took)
			}
		})
	}
	srv.Restart()
	if err := q.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
}

func TestEvictionPolicyWarning(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithDir(t.TempDir())) // owned: CONFIG SET is global
	c := client(t, srv.URL())
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix()})
	ctx := ctxT(t)
	for _, tc := range []struct {
		policy string
		warn   bool
	}{{"noeviction", false}, {"allkeys-lru", true}, {"volatile-ttl", true}} {
		if err := c.ConfigSet(ctx, "maxmemory-policy", tc.policy).Err(); err != nil {
			t.Fatal(err)
		}
		if p, err := q.EvictionPolicy(ctx); err != nil || p != tc.policy {
			t.Errorf("EvictionPolicy = %q, %v; want %q", p, err, tc.policy)
		}
		st, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		warned := len(st.Warnings) == 1 && strings.Contains(st.Warnings[0], tc.policy)
		if warned != tc.warn || (!tc.warn && len(st.Warnings) != 0) {
			t.Errorf("policy %s: warnings %q, want a warning: %v", tc.policy, st.Warnings, tc.warn)
		}
	}
}

func TestUndecodableEntryIsDeadLettered(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix()})
	ctx := ctxT(t)
	if err := q.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Receive(ctx, 1, 0); err != nil { // creates the groups
		t.Fatal(err)
	}
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: q.Keys()[0], Values: []string{"j", "{not json"}}).Err(); err != nil {
		t.Fatal(err)
	}
	good := job("good", recall.PriorityHigh)
	if err := q.Enqueue(ctx, good); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Receive(ctx, 10, time.Second)
	if err != nil || len(jobs) != 1 || jobs[0].ConversationID != "good" {
		t.Fatalf("Receive = %v, %v; want only the good job", jobs, err)
	}
	dl, err := q.DeadLetters(ctx, 10)
	if err != nil || len(dl) != 1 || !strings.Contains(dl[0].Reason, "undecodable") {
		t.Fatalf("DeadLetters = %+v, %v; want the undecodable entry", dl, err)
	}
	if st, err := q.Stats(ctx); err != nil || st.InFlight != 1 {
		t.Errorf("Stats = %+v, %v; want only the good job in flight", st, err)
	}
}

func TestPruneConsumers(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	prefix := uniquePrefix()
	ctx := ctxT(t)
	idle := redisq.New(c, redisq.Options{Prefix: prefix, Consumer: "idle"})
	busy := redisq.New(c, redisq.Options{Prefix: prefix, Consumer: "busy"})
	if _, err := idle.Receive(ctx, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := busy.Enqueue(ctx, job("held", recall.PriorityLow)); err != nil {
		t.Fatal(err)
	}
	if r, err := busy.Receive(ctx, 1, time.Second); err != nil || len(r) != 1 {
		t.Fatalf("Receive = %v, %v", r, err)
	}
	time.Sleep(50 * time.Millisecond)
	n, err := idle.PruneConsumers(ctx, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("PruneConsumers removed nothing, want the idle consumer")
	}
	st, err := busy.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Consumers) != 1 || st.Consumers[0].Name != "busy" || st.Consumers[0].Pending != 1 {
		t.Errorf("consumers after prune = %+v, want only busy with its job", st.Consumers)
	}
}

// TestKeysShareOneHashTag pins the queue's keys, all under one hash tag so
// every script touches one cluster slot.
func TestKeysShareOneHashTag(t *testing.T) {
	t.Parallel()
	q := redisq.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), redisq.Options{Prefix: "blue"})
	want := []string{"{blue}:q:high", "{blue}:q:default", "{blue}:q:low", "{blue}:q:jobs", "{blue}:q:retry", "{blue}:q:dead",
		"{blue}:q:high:overflow", "{blue}:q:default:overflow", "{blue}:q:low:overflow", "{blue}:q:owners", "{blue}:q:consumers"}
	if got := q.Keys(); !slices.Equal(got, want) {
		t.Errorf("Keys() = %q\nwant %q", got, want)
	}
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		opts    redisq.ClientOptions
		cluster bool
		check   func(t *testing.T, c redis.UniversalClient)
		wantErr bool
	}{
		{name: "plain", url: "redis://localhost:6380/2", check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Addr != "localhost:6380" || o.DB != 2 || o.TLSConfig != nil {
				t.Errorf("options = addr %s db %d tls %v", o.Addr, o.DB, o.TLSConfig != nil)
			}
			if o.DialTimeout != 2*time.Second || o.ReadTimeout != 2*time.Second || o.WriteTimeout != 2*time.Second {
				t.Errorf("timeouts = %s %s %s, want 2s", o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
			}
		}},
		{name: "tls with credentials", url: "rediss://app:s3cret@cache.example:6379", check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.TLSConfig == nil || o.Username != "app" || o.Password != "s3cret" {
				t.Errorf("tls %v user %q password set %v", o.TLSConfig != nil, o.Username, o.Password != "")
			}
		}},
		{name: "url timeout wins", url: "redis://localhost:6379?read_timeout=7s", check: func(t *testing.T, c redis.UniversalClient) {
			if o := c.(*redis.Client).Options(); o.ReadTimeout != 7*time.Second || o.DialTimeout != 2*time.Second {
				t.Errorf("read %s dial %s", o.ReadTimeout, o.DialTimeout)
			}
		}},
		{name: "cluster in url", url: "rediss://cache.example:6379?cluster=true", cluster: true, check: func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.ClusterClient).Options()
			if o.TLSConfig == nil || len(o.Addrs) != 1 || o.Addrs[0] != "cache.example:6379" {
				t.Errorf("tls %v addrs %v", o.TLSConfig != nil, o.Addrs)
			}
		}},
		{name: "cluster option", url: "redis://a:1?addr=b:2", opts: redisq.ClientOptions{Cluster: true}, cluster: true, check: func(t *testing.T, c redis.UniversalClient) {
			if o := c.(*redis.ClusterClient).Options(); len(o.Addrs) != 2 {
				t.Errorf("addrs %v, want a:1 and b:2", o.Addrs)
			}
		}},
		{name: "cluster false", url: "redis://localhost:6379?cluster=false"},
		{name: "bad cluster value", url: "redis://localhost:6379?cluster=maybe", wantErr: true},
		{name: "cluster with db", url: "redis://localhost:6379/3?cluster=1", wantErr: true},
		{name: "bad scheme", url: "http://localhost:6379", wantErr: true},
		{name: "unknown option", url: "redis://localhost:6379?colour=blue", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := redisq.NewClient(tc.url, tc.opts)
			if tc.wantErr {
				if err == nil {
					c.Close()
					t.Fatalf("NewClient(%q) = nil error, want one", tc.url)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClient(%q): %v", tc.url, err)
			}
			defer c.Close()
			if _, isCluster := c.(*redis.ClusterClient); isCluster != tc.cluster {
				t.Fatalf("NewClient(%q) = %T, cluster %v wanted", tc.url, c, tc.cluster)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestConcurrentAcks acks 200 jobs from 200 goroutines at once: every ack
// must land (the queue ends empty) though they share script calls.
func TestConcurrentAcks(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix(), Visibility: time.Minute})
	ctx := ctxT(t)
	const n = 200
	for i := range n {
		if err := q.Enqueue(ctx, job(fmt.Sprintf("a%d", i), recall.Priorities[i%3])); err != nil {
			t.Fatal(err)
		}
	}
	var got []recall.Job
	for len(got) < n {
		jobs, err := q.Receive(ctx, n-len(got), time.Second)
		if err != nil || len(jobs) == 0 {
			t.Fatalf("Receive after %d: %v", len(got), err)
		}
		got = append(got, jobs...)
	}
	hook := &countHook{}
	c.AddHook(hook)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, j := range got {
		wg.Go(func() {
			<-start
			if err := q.Ack(ctx, j); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d acks took %d round trips", n, hook.n.Load())
	if hook.n.Load() > n {
		t.Errorf("%d acks took %d round trips", n, hook.n.Load())
	}
	assertEmpty(t, c, q)
}

// TestWeightedRoundRobin pins the priority policy on Redis: rounds of
// recall.Priority.Weight deliveries (6:3:1) with every lane busy, whether
// jobs are taken one at a time or in batches; a lane without work passes
// its turn, the lanes with work share its rounds by their weights, and the
// only lane with work takes everything.
func TestWeightedRoundRobin(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	h, d, l := recall.PriorityHigh, recall.PriorityDefault, recall.PriorityLow
	round := []recall.Priority{h, h, h, h, h, h, d, d, d, l}
	tests := []struct {
		name  string
		fill  []recall.Priority // 300 jobs of each
		batch int
		want  []recall.Priority // the first len(want) deliveries, in order
		count map[recall.Priority]int
	}{
		{name: "every lane busy, one at a time", fill: []recall.Priority{h, d, l}, batch: 1,
			want: slices.Concat(round, round, round)},
		{name: "every lane busy, batches of ten", fill: []recall.Priority{h, d, l}, batch: 10,
			want: slices.Concat(round, round, round)},
		{name: "every lane busy, batches of 64", fill: []recall.Priority{h, d, l}, batch: 64,
			count: map[recall.Priority]int{h: 192, d: 96, l: 32}},
		{name: "high empty, one at a time", fill: []recall.Priority{d, l}, batch: 1,
			want: []recall.Priority{d, d, d, l, d, d, d, l, d, d, d, l}},
		{name: "high empty, batches of 8", fill: []recall.Priority{d, l}, batch: 8,
			count: map[recall.Priority]int{d: 240, l: 80}},
		{name: "only high", fill: []recall.Priority{h}, batch: 64,
			count: map[recall.Priority]int{h: 64}},
		{name: "only low", fill: []recall.Priority{l}, batch: 64,
			count: map[recall.Priority]int{l: 64}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := redisq.New(c, redisq.Options{Prefix: uniquePrefix(), Visibility: time.Minute})
			ctx := ctxT(t)
			for i := range 300 {
				for _, p := range tc.fill {
					if err := q.Enqueue(ctx, job(fmt.Sprintf("%s-%d", p, i), p)); err != nil {
						t.Fatal(err)
					}
				}
			}
			total := len(tc.want)
			for _, n := range tc.count {
				total += n
			}
			var got []recall.Priority
			for len(got) < total {
				asked := min(tc.batch, total-len(got))
				jobs, err := q.Receive(ctx, asked, time.Second)
				if err != nil || len(jobs) != asked {
					// Every lane filled holds more than the test takes.
					t.Fatalf("Receive(%d) after %d: %d jobs, %v", asked, len(got), len(jobs), err)
				}
				for _, j := range jobs {
					got = append(got, j.Priority)
				}
			}
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("deliveries\n%v\nwant\n%v", got, tc.want)
			}
			counts := map[recall.Priority]int{}
			for _, p := range got {
				counts[p]++
			}
			// The first take that finds a lane dry hands that lane's share
			// to the lane below it; later rounds even it out, to within a
			// delivery or two.
			for p, n := range tc.count {
				if counts[p] < n-2 || counts[p] > n+2 {
					t.Errorf("%d deliveries: %v, want %v", len(got), counts, tc.count)
					break
				}
			}
		})
	}
}

// TestStreamsFlushed checks the queue recreates its consumer groups when
// the streams vanish under it (FLUSHALL, or a restart without
// persistence), instead of failing every Receive with NOGROUP.
func TestStreamsFlushed(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithDir(t.TempDir())) // owned: FLUSHALL
	c := client(t, srv.URL())
	q := redisq.New(c, redisq.Options{Prefix: uniquePrefix(), Visibility: time.Minute})
	ctx := ctxT(t)
	if _, err := q.Receive(ctx, 1, 0); err != nil { // creates the groups
		t.Fatal(err)
	}
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The enqueue's XADD recreates the stream, without a group.
	if err := q.Enqueue(ctx, job("after-flush", recall.PriorityDefault)); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.Receive(ctx, 1, time.Second)
	if err != nil || len(jobs) != 1 || jobs[0].ConversationID != "after-flush" {
		t.Fatalf("Receive after a flush = %v, %v; want the job enqueued after it", jobs, err)
	}
}

// TestErrorsAgainstRealRedis checks Redis's refusals come out of the queue
// as the codes and messages an operator acts on, from real servers: one
// with a password and an ACL user, a cluster, and nothing at all.
func TestErrorsAgainstRealRedis(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, testenv.WithDir(t.TempDir())) // owned: it gets a password
	ctx := ctxT(t)
	admin := srv.Client()
	if err := admin.Do(ctx, "ACL", "SETUSER", "other-app", "on", ">pw", "~other:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	cl := testenv.StartRedisCluster(t)
	var plainOnCluster string // a node that does not own the queue's slot
	for _, a := range cl.Addrs() {
		q := redisq.New(client(t, "redis://"+a), redisq.Options{Prefix: "errs"})
		if err := q.Enqueue(ctx, job("probe", recall.PriorityHigh)); err != nil {
			plainOnCluster = "redis://" + a
			break
		}
	}
	if plainOnCluster == "" {
		t.Fatal("every cluster node took the queue's keys")
	}
	addr := srv.Addr()
	tests := []struct {
		name, url string
		code      string
		says      string
	}{
		{"no password", "redis://" + addr, recall.EUNAUTHORIZED, "password in REDIS_URL"},
		{"wrong password", "redis://:wrong@" + addr, recall.EUNAUTHORIZED, "password in REDIS_URL"},
		{"user without the keys", "redis://other-app:pw@" + addr, recall.EUNAUTHORIZED, "ACL"},
		{"tls to a plain redis", "rediss://:s3cret@" + addr, recall.EINVALID, "use redis://"},
		{"cluster client on a plain redis", "redis://:s3cret@" + addr + "?cluster=true", recall.EINVALID, "not a cluster"},
		{"plain client on a cluster", plainOnCluster, recall.EINVALID, "RECALL_REDIS_CLUSTER=true"},
		{"nothing there", "redis://127.0.0.1:1", recall.EUNAVAILABLE, "nothing listens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := redisq.NewClient(tc.url, redisq.ClientOptions{Timeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			err = redisq.New(c, redisq.Options{Prefix: "errs"}).Enqueue(ctx, job("x", recall.PriorityHigh))
			if recall.ErrorCode(err) != tc.code || !strings.Contains(recall.ErrorMessage(err), tc.says) {
				t.Errorf("Enqueue = %v; want %s saying %q", err, tc.code, tc.says)
			}
		})
	}
	// The right password works.
	ok := redisq.New(client(t, "redis://:s3cret@"+addr), redisq.Options{Prefix: "errs"})
	if err := ok.Enqueue(ctx, job("x", recall.PriorityHigh)); err != nil {
		t.Errorf("Enqueue with the password = %v", err)
	}
}

// TestResumeSkipsDeletedEntries: an entry deleted while this consumer held
// it (by hand, say) is neither delivered, nor dead-lettered, nor left
// pending when the restarted consumer resumes. (Redis 7's XAUTOCLAIM drops
// such entries from the pending list by itself; the queue acknowledges them
// for older servers.)
func TestResumeSkipsDeletedEntries(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	opts := redisq.Options{Prefix: uniquePrefix(), Consumer: "worker-a", Visibility: time.Hour}
	ctx := ctxT(t)
	before := newQueue(t, c, opts)
	for _, id := range []string{"kept", "deleted"} {
		if err := before.Enqueue(ctx, job(id, recall.PriorityDefault)); err != nil {
			t.Fatal(err)
		}
	}
	held, err := before.Receive(ctx, 2, time.Second)
	if err != nil || len(held) != 2 {
		t.Fatalf("Receive = %d jobs, %v", len(held), err)
	}
	for _, j := range held {
		if j.ConversationID == "deleted" {
			_, id, _ := strings.Cut(j.Receipt, ":")
			if err := c.XDel(ctx, before.Keys()[1], id).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	before.Close() // a graceful stop: the restart below claims the name at once
	after := newQueue(t, c, opts)
	back, err := after.Receive(ctx, 10, 0)
	if err != nil || len(back) != 1 || back[0].ConversationID != "kept" {
		t.Fatalf("resumed %v, %v; want only the entry still there", back, err)
	}
	if err := after.Ack(ctx, back...); err != nil {
		t.Fatal(err)
	}
	if st, err := after.Stats(ctx); err != nil || st.InFlight != 0 || st.Dead != 0 {
		t.Errorf("after resuming and acking: %+v, %v; want nothing pending and no dead letter", st, err)
	}
}

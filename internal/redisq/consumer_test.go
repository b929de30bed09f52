package redisq_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"recall/internal/recall"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

// runs counts, per job key, the handlers running it now, the most that
// ever ran it at once, and how many times it ran.
type runs struct {
	mu      sync.Mutex
	now     map[string]int
	most    map[string]int
	total   map[string]int
	settled int
}

func newRuns() *runs {
	return &runs{now: map[string]int{}, most: map[string]int{}, total: map[string]int{}}
}

func (r *runs) start(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now[k]++
	r.total[k]++
	r.most[k] = max(r.most[k], r.now[k])
}

func (r *runs) end(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now[k]--
	r.settled++
}

// work is a worker's loop over q until ctx ends: it receives for its free
// slots, runs each job in a handler that takes hold, and acks it.
func work(ctx context.Context, q *redisq.Queue, slots int, hold time.Duration, r *runs) error {
	sem := make(chan struct{}, slots)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		sem <- struct{}{}
		free := 1
		for len(sem) < cap(sem) {
			sem <- struct{}{}
			free++
		}
		jobs, err := q.Receive(ctx, free, 100*time.Millisecond)
		for range free - len(jobs) {
			<-sem
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, j := range jobs {
			wg.Go(func() {
				defer func() { <-sem }()
				r.start(j.Key())
				time.Sleep(hold)
				r.end(j.Key())
				q.Ack(context.WithoutCancel(ctx), j)
			})
		}
	}
	return nil
}

// TestTwoWorkersOneDirectory starts two workers that ask for the same
// consumer name, as two `recall worker` processes from one directory with
// DynamoDB do (config.ConsumerName is the host and the data directory), the
// second while the first holds jobs. No job may run in both at once, and
// with nobody dying every job runs exactly once.
func TestTwoWorkersOneDirectory(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	opts := redisq.Options{Prefix: uniquePrefix(), Consumer: "host-serve-1a2b3c4d", Visibility: time.Minute}
	ctx := ctxT(t)
	seed := redisq.New(client(t, srv.URL()), opts)
	const total = 48
	for i := range total {
		if err := seed.Enqueue(ctx, job(fmt.Sprintf("c%02d", i), recall.PriorityDefault)); err != nil {
			t.Fatal(err)
		}
	}
	r := newRuns()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	errs := make(chan error, 2)
	first := newQueue(t, client(t, srv.URL()), opts)
	go func() { errs <- work(wctx, first, 4, 150*time.Millisecond, r) }()
	time.Sleep(100 * time.Millisecond) // the first holds 4 jobs now
	second := newQueue(t, client(t, srv.URL()), opts)
	go func() { errs <- work(wctx, second, 4, 150*time.Millisecond, r) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		settled := r.settled
		r.mu.Unlock()
		if settled >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("consumer names: %q and %q", first.Consumer(), second.Consumer())
	if first.Consumer() == second.Consumer() {
		t.Errorf("both workers hold the consumer name %q", first.Consumer())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range total {
		k := job(fmt.Sprintf("c%02d", i), recall.PriorityDefault).Key()
		if r.most[k] > 1 || r.total[k] != 1 {
			t.Errorf("job %s ran %d times, %d at once; want once", k, r.total[k], r.most[k])
		}
	}
}

const holderEnv = "RECALL_REDISQ_HOLDER"

// TestHelperHolder is not a test: it is the child process of
// TestKilledWorkerRecovered, a worker that takes two jobs, says so, and
// holds them, heartbeat running, until it is killed.
func TestHelperHolder(t *testing.T) {
	if os.Getenv(holderEnv) != "1" {
		t.Skip("helper process for TestKilledWorkerRecovered")
	}
	c, err := redisq.NewClient(os.Getenv("HELPER_REDIS_URL"), redisq.ClientOptions{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	q := redisq.New(c, redisq.Options{Prefix: os.Getenv("HELPER_PREFIX"), Consumer: "worker",
		Visibility: killVisibility, Heartbeat: killHeartbeat})
	jobs, err := q.Receive(context.Background(), 2, 10*time.Second)
	if err != nil || len(jobs) != 2 {
		fmt.Println("error", len(jobs), err)
		os.Exit(2)
	}
	fmt.Println("holding", q.Consumer())
	time.Sleep(time.Minute)
	os.Exit(3)
}

// The killed worker's timeouts: a visibility timeout far longer than the
// recovery the heartbeat allows.
const (
	killVisibility = 30 * time.Second
	killHeartbeat  = time.Second
)

// TestKilledWorkerRecovered SIGKILLs a real worker process holding two jobs
// and restarts it at once under the same name: the restarted worker gets
// another name while the dead one's heartbeat lasts, then takes the dead
// one's jobs within the heartbeat plus a reclaim period, long before the
// visibility timeout. It reports how long that took.
func TestKilledWorkerRecovered(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	prefix := uniquePrefix()
	ctx := ctxT(t)
	opts := redisq.Options{Prefix: prefix, Consumer: "worker", Visibility: killVisibility, Heartbeat: killHeartbeat}
	seed := redisq.New(client(t, srv.URL()), opts)
	for _, id := range []string{"j1", "j2"} {
		if err := seed.Enqueue(ctx, job(id, recall.PriorityDefault)); err != nil {
			t.Fatal(err)
		}
	}
	child := startHelper(t, "TestHelperHolder", holderEnv, srv.URL(), prefix)
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	err := child.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}

	restarted := newQueue(t, client(t, srv.URL()), opts)
	var got []recall.Job
	for len(got) < 2 && time.Since(killed) < killVisibility {
		jobs, err := restarted.Receive(ctx, 2, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, jobs...)
	}
	took := time.Since(killed)
	if len(got) != 2 {
		t.Fatalf("the restarted worker got %d of the killed worker's 2 jobs within the %s visibility timeout", len(got), killVisibility)
	}
	t.Logf("restarted as %q; the killed worker's jobs were running again %s after SIGKILL (heartbeat %s, reclaim every %s, visibility %s)",
		restarted.Consumer(), took.Round(10*time.Millisecond), killHeartbeat, killHeartbeat/2, killVisibility)
	if took > killVisibility/2 {
		t.Errorf("recovery took %s, want about the %s heartbeat, not the visibility timeout", took, killHeartbeat)
	}
	if err := restarted.Ack(ctx, got...); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, client(t, srv.URL()), restarted)
}

// startHelper runs the helper test named test in a child process (env set
// to 1 tells it to act, url and prefix say which queue) and returns once
// the child says it holds its jobs; the child's further output is drained.
// A second process holding jobs is what the crash and liveness tests need.
func startHelper(t *testing.T, test, env, url, prefix string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env+"=1", "HELPER_REDIS_URL="+url, "HELPER_PREFIX="+prefix)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("child exited before holding the jobs")
			}
			if strings.HasPrefix(l, "error") {
				t.Fatalf("child: %s", l)
			}
			if strings.HasPrefix(l, "holding") {
				go func() {
					for range lines {
					}
				}()
				return cmd
			}
		case <-timeout:
			t.Fatal("child never took the jobs")
		}
	}
}

// TestLiveWorkerKeepsItsJobs: a worker busy with jobs for many heartbeat
// periods (a Lambda container in a long drain) keeps them while it beats;
// another worker polling all that time takes none. When the busy one
// closes, its name is released and the other takes its jobs at once.
func TestLiveWorkerKeepsItsJobs(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	prefix := uniquePrefix()
	const beat = 300 * time.Millisecond
	ctx := ctxT(t)
	busy := newQueue(t, c, redisq.Options{Prefix: prefix, Consumer: "lambda-busy", Visibility: time.Minute, Heartbeat: beat})
	other := newQueue(t, c, redisq.Options{Prefix: prefix, Consumer: "lambda-other", Visibility: time.Minute, Heartbeat: beat})
	for _, id := range []string{"long-1", "long-2"} {
		if err := busy.Enqueue(ctx, job(id, recall.PriorityHigh)); err != nil {
			t.Fatal(err)
		}
	}
	held, err := busy.Receive(ctx, 2, time.Second)
	if err != nil || len(held) != 2 {
		t.Fatalf("Receive = %d jobs, %v", len(held), err)
	}
	for end := time.Now().Add(6 * beat); time.Now().Before(end); {
		if r, err := other.Receive(ctx, 2, beat/2); err != nil || len(r) != 0 {
			t.Fatalf("another worker took %d of a live worker's jobs (%v)", len(r), err)
		}
	}
	if err := busy.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.Receive(ctx, 1, 0); recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Errorf("Receive after Close = %v, want %s", err, recall.EUNAVAILABLE)
	}
	start := time.Now()
	var got []recall.Job
	for len(got) < 2 && time.Since(start) < 5*time.Second {
		r, err := other.Receive(ctx, 2, beat)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r...)
	}
	if len(got) != 2 {
		t.Fatalf("after the busy worker closed, the other got %d of its 2 jobs", len(got))
	}
	t.Logf("a closed worker's jobs were taken over %s after Close", time.Since(start).Round(time.Millisecond))
}

// TestPruneDeadConsumers: pruning removes consumers that hold nothing and
// are idle or dead (lapsed heartbeat, here released by Close), and the
// records of dead ones, but keeps a live consumer and a dead one that
// still holds a job (deleting it would drop the job).
func TestPruneDeadConsumers(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	prefix := uniquePrefix()
	ctx := ctxT(t)
	q := func(name string) *redisq.Queue {
		return newQueue(t, c, redisq.Options{Prefix: prefix, Consumer: name, Visibility: time.Hour})
	}
	live, gone, holding := q("live"), q("gone"), q("holding")
	for _, w := range []*redisq.Queue{live, gone} {
		if _, err := w.Receive(ctx, 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := holding.Enqueue(ctx, job("held", recall.PriorityLow)); err != nil {
		t.Fatal(err)
	}
	if r, err := holding.Receive(ctx, 1, time.Second); err != nil || len(r) != 1 {
		t.Fatalf("Receive = %v, %v", r, err)
	}
	gone.Close()
	holding.Close()
	// A consumer from a version without heartbeats: no record.
	if err := c.XGroupCreateConsumer(ctx, live.Keys()[0], redisq.DefaultGroup, "legacy").Err(); err != nil {
		t.Fatal(err)
	}

	n, err := live.PruneConsumers(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if names := consumerNames(t, live); n != 1 || !equalSet(names, "holding", "legacy", "live") {
		t.Errorf("prune(idle 1h) removed %d, left %v; want only gone removed", n, names)
	}
	records, err := c.HKeys(ctx, live.Keys()[10]).Result()
	if err != nil || !equalSet(records, "holding", "live") {
		t.Errorf("heartbeat records %v, %v; want holding's and live's", records, err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := live.PruneConsumers(ctx, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// The live consumer holds nothing and is idle, so it goes too; its
	// next read registers it again. The dead one with a job stays.
	if names := consumerNames(t, live); !equalSet(names, "holding") {
		t.Errorf("prune(idle 10ms) left %v; want only the consumer holding a job", names)
	}
}

func consumerNames(t *testing.T, q *redisq.Queue) []string {
	t.Helper()
	st, err := q.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range st.Consumers {
		names = append(names, c.Name)
	}
	return names
}

func equalSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

// TestOwnerCounts follows one owner's count in Redis through every way a
// job comes and goes, and shows what bounds a count left too high (a
// partial data loss, a hand edit): it only demotes that owner's new jobs to
// the overflow lane, and it is forgotten when the queue next empties.
func TestOwnerCounts(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t)
	c := client(t, srv.URL())
	q := newQueue(t, c, redisq.Options{Prefix: uniquePrefix(), Visibility: time.Minute, FairShare: 4})
	ctx := ctxT(t)
	owners, normal, overflow := q.Keys()[9], q.Keys()[1], q.Keys()[7]
	count := func(want int64, after string) {
		t.Helper()
		if n, err := c.HGet(ctx, owners, "a").Int64(); err != nil && want != 0 || n != want {
			t.Errorf("after %s: owner a counts %d (%v), want %d", after, n, err, want)
		}
	}
	owned := func(owner, id string) recall.Job {
		j := job(id, recall.PriorityDefault)
		j.Owner = owner
		return j
	}
	for i := range 6 {
		if err := q.Enqueue(ctx, owned("a", fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	count(6, "6 enqueues")
	if n, m := c.XLen(ctx, normal).Val(), c.XLen(ctx, overflow).Val(); n != 4 || m != 2 {
		t.Errorf("normal lane holds %d, overflow %d; want the fair share of 4 and the other 2", n, m)
	}
	got, err := q.Receive(ctx, 4, time.Second)
	if err != nil || len(got) != 4 {
		t.Fatalf("Receive = %d, %v", len(got), err)
	}
	if err := q.Retry(ctx, got[0], 0); err != nil {
		t.Fatal(err)
	}
	count(6, "a retry (still outstanding)")
	if err := q.DeadLetter(ctx, got[1], "failed"); err != nil {
		t.Fatal(err)
	}
	count(5, "a dead letter")
	if err := q.Ack(ctx, got[2], got[3], got[3]); err != nil {
		t.Fatal(err)
	}
	count(3, "two acks, one of them twice")

	// Drift: the count says 1000 while a has 3 outstanding.
	if err := c.HSet(ctx, owners, "a", 1000).Err(); err != nil {
		t.Fatal(err)
	}
	late, other := owned("a", "a-late"), owned("b", "b1")
	for _, j := range []recall.Job{late, other} {
		if err := q.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	order := drain(t, q)
	if slices.Index(order, "b1") > slices.Index(order, "a-late") {
		t.Errorf("deliveries %v: with a's count drifted high, a's new job should wait behind b's", order)
	}
	assertEmpty(t, c, q) // the drifted count is gone with the last job
	for _, j := range []recall.Job{owned("a", "a-next"), owned("b", "b-next")} {
		if err := q.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := q.Receive(ctx, 1, time.Second); err != nil || len(r) != 1 || r[0].ConversationID != "a-next" {
		t.Errorf("after the queue emptied, Receive = %v, %v; want a's job first again", r, err)
	}
}

// drain receives and acks until q is empty, and returns the conversation
// ids in the order they came.
func drain(t *testing.T, q *redisq.Queue) []string {
	t.Helper()
	var order []string
	for {
		jobs, err := q.Receive(ctxT(t), 10, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			return order
		}
		for _, j := range jobs {
			order = append(order, j.ConversationID)
		}
		if err := q.Ack(ctxT(t), jobs...); err != nil {
			t.Fatal(err)
		}
	}
}

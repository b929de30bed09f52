// Package redisq is Recall's Redis Streams queue, and the only package that
// speaks Redis: every key, script and command lives here.
//
// Layout. Each priority is a stream read by one consumer group; a hash maps
// every outstanding job key to its stream entry (or its scheduled retry), a
// sorted set holds retries by due time, and a stream holds dead letters.
// Every key carries one hash tag ({recall}:q:high, ...), so the queue lives
// in one cluster slot and each operation that changes more than one key is
// a single Lua script: atomic even on a cluster or ElastiCache Serverless.
// No key has a TTL.
//
// Delivery is at least once. Receive reads new entries with XREADGROUP; Ack
// does XACK and XDEL together, so acked entries never accumulate and no
// MAXLEN trimming (which could drop unacked work) is needed. Entries held
// longer than the visibility timeout by a consumer that died are taken over
// with XAUTOCLAIM, a step of its own run every ReclaimEvery; a consumer
// restarted under the same name first takes back its own pending entries
// (XREADGROUP from id 0) without waiting for the timeout. Retries wait in
// the sorted set and are moved into their stream by the next Receive after
// they fall due, so no consumer sleeps on a delay.
//
// Errors. Every error leaving the package is a recall.Error classified at
// this boundary by go-redis's and the network's error types and by the
// reply's error type (NOAUTH, MOVED, ...): EUNAUTHORIZED when Redis refuses
// the credentials or the ACL, EINVALID for a misconfiguration (TLS on one
// side only, a certificate, cluster mode on one side only, a replica),
// EUNAVAILABLE when Redis cannot be reached or is not ready; the message
// says what to fix (see classify).
//
// Priorities follow the same weighted credit round robin as memq: each round
// grants high, default and low recall.Priority.Weight deliveries (6, 3 and
// 1), served in that order; a lane without work passes its turn. With every
// lane busy high gets 60%, default 30% and low 10%, so low is never
// starved. The credits live in each Queue value (per process), in Go: the
// take script is told how many entries to read from each lane, so the
// policy costs no shared counter every consumer would contend on.
package redisq

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
)

// Defaults for Options.
const (
	DefaultPrefix     = "recall"
	DefaultGroup      = "workers"
	DefaultVisibility = 5 * time.Minute
	// DefaultMaxDeadLetters bounds the dead-letter stream (approximately,
	// oldest dropped first) so a failure storm cannot fill Redis.
	DefaultMaxDeadLetters = 100_000
)

// Options tunes a Queue.
type Options struct {
	// Prefix is the hash tag every key shares ("recall": {recall}:q:high).
	// Deployments sharing one Redis use different prefixes. It must not
	// contain braces, or the keys would spread over cluster slots.
	Prefix string
	// Group is the consumer group name ("workers").
	Group string
	// Consumer names this process in the group. A consumer restarted under
	// the same name takes back its pending jobs at once, so give
	// long-running workers a stable name; two live processes must never
	// share one. The default, host-pid, is unique but not stable.
	Consumer string
	// Visibility is how long a delivered job may stay unacked before
	// another consumer takes it over. It must exceed the analyzer's timeout
	// (DefaultVisibility when zero).
	Visibility time.Duration
	// ReclaimEvery is how often a Receive looks for jobs to take over
	// (Visibility/4 between 50ms and 30s when zero).
	ReclaimEvery time.Duration
	// MaxDeadLetters bounds the dead-letter stream (DefaultMaxDeadLetters
	// when zero, unbounded when negative).
	MaxDeadLetters int64
	// Logger receives warnings about entries the queue had to drop.
	Logger *slog.Logger
}

// Queue is a recall.Queue on Redis Streams. It is safe for concurrent use.
type Queue struct {
	rdb      redis.UniversalClient
	keys     []string
	group    string
	consumer string
	vis      time.Duration
	every    time.Duration
	maxDead  int64
	log      *slog.Logger

	ready atomic.Bool // consumer groups exist

	// takeMu serializes the takes of this Queue, so the per-process state
	// below is never raced.
	takeMu sync.Mutex
	// credits are what is left of each lane's turn in the current round
	// of the weighted round robin (see plan).
	credits [3]int
	// resume holds, per lane, where the restarted consumer's walk through
	// its own pending entries goes on ("" when done).
	resume [3]string
	// reclaim holds, per lane, where the next XAUTOCLAIM scan starts.
	reclaim     [3]string
	nextReclaim time.Time

	// Acks in flight and waiting; see Ack.
	ackMu    sync.Mutex
	ackQueue []*ackReq
	ackBusy  bool
}

var (
	_ recall.Queue       = (*Queue)(nil)
	_ recall.DeadLetters = (*Queue)(nil)
)

var laneCodes = [3]string{"h", "d", "l"}

// New returns a queue on client. It does no I/O; the consumer groups are
// created on first use.
func New(client redis.UniversalClient, opts Options) *Queue {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.Consumer == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "recall"
		}
		opts.Consumer = host + "-" + strconv.Itoa(os.Getpid())
	}
	if opts.Visibility <= 0 {
		opts.Visibility = DefaultVisibility
	}
	if opts.ReclaimEvery <= 0 {
		opts.ReclaimEvery = min(max(opts.Visibility/4, 50*time.Millisecond), 30*time.Second)
	}
	if opts.MaxDeadLetters == 0 {
		opts.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tag := "{" + opts.Prefix + "}:q:"
	return &Queue{
		rdb:      client,
		keys:     []string{tag + "high", tag + "default", tag + "low", tag + "jobs", tag + "retry", tag + "dead"},
		group:    opts.Group,
		consumer: opts.Consumer,
		vis:      opts.Visibility,
		every:    opts.ReclaimEvery,
		maxDead:  max(opts.MaxDeadLetters, 0),
		log:      opts.Logger,
		credits:  roundWeights(),
		resume:   [3]string{"0", "0", "0"},
		reclaim:  [3]string{"0-0", "0-0", "0-0"},
	}
}

// Keys lists the Redis keys the queue uses: the high, default and low
// streams, the jobs hash, the retry set and the dead-letter stream.
func (q *Queue) Keys() []string { return append([]string(nil), q.keys...) }

// Consumer is this process's name in the consumer group.
func (q *Queue) Consumer() string { return q.consumer }

// replyCode is the error type Redis put first in an error reply
// ("NOGROUP", "MOVED", ...), or "" when err is no error reply.
func replyCode(err error) string {
	var re redis.Error
	if !errors.As(err, &re) {
		return ""
	}
	code, _, _ := strings.Cut(re.Error(), " ")
	return code
}

// Enqueue adds job unless a job with the same key is outstanding: one
// script, one round trip.
func (q *Queue) Enqueue(ctx context.Context, job recall.Job) error {
	lane := job.Priority.Lane()
	if lane < 0 {
		return recall.Errorf(recall.EINVALID, "redisq: invalid priority %q", job.Priority)
	}
	payload, err := encode(job)
	if err != nil {
		return err
	}
	if err := enqueueScript.Run(ctx, q.rdb, q.keys, laneCodes[lane], job.Key(), payload).Err(); err != nil {
		return redisErr(err, "enqueue %s", job.Key())
	}
	return nil
}

// Receive returns up to n jobs, waiting up to wait for the first. While it
// waits it blocks in XREAD on the three streams (which claims nothing, so
// abandoning it on ctx cancellation loses nothing) and wakes for a new
// entry, a retry falling due or the next reclaim pass.
func (q *Queue) Receive(ctx context.Context, n int, wait time.Duration) ([]recall.Job, error) {
	if n <= 0 {
		return nil, nil
	}
	deadline := time.Now().Add(wait)
	for {
		jobs, w, err := q.take(ctx, n)
		if err != nil {
			return nil, err
		}
		if len(jobs) > 0 {
			return jobs, nil
		}
		block := time.Until(deadline)
		if block <= 0 {
			return nil, nil
		}
		if w.nextDue >= 0 {
			block = min(block, time.Duration(w.nextDue-w.now)*time.Millisecond)
		}
		q.takeMu.Lock()
		block = min(block, time.Until(q.nextReclaim))
		q.takeMu.Unlock()
		// XREAD BLOCK 0 would block forever; never ask for less than 1ms.
		block = max(block, time.Millisecond)
		if err := q.await(ctx, w.last, block); err != nil {
			return nil, err
		}
	}
}

// wakeInfo is what an empty take tells Receive about when to look again.
type wakeInfo struct {
	now, nextDue int64
	last         [3]string
}

// await blocks until a stream gets an entry after last, block passes, or
// ctx ends.
func (q *Queue) await(ctx context.Context, last [3]string, block time.Duration) error {
	for i, id := range last {
		if id == "" {
			last[i] = "0-0"
		}
	}
	args := &redis.XReadArgs{Streams: []string{q.keys[0], q.keys[1], q.keys[2], last[0], last[1], last[2]}, Count: 1, Block: block}
	done := make(chan error, 1)
	go func() {
		// Not ctx: a cancelled blocking read would poison its connection.
		// The read claims nothing, so leaving it to finish is harmless.
		err := q.rdb.XRead(context.WithoutCancel(ctx), args).Err()
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return redisErr(err, "wait for jobs")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// take delivers up to n jobs in three steps, each doing work only when it
// has some: a consumer restarted under the same name first gets back the
// entries it held (resumeOwn); every ReclaimEvery it takes over entries a
// dead consumer held past the visibility timeout (reclaimIdle); the rest
// are new entries by weighted round robin (takeNew).
func (q *Queue) take(ctx context.Context, n int) ([]recall.Job, wakeInfo, error) {
	if err := q.ensure(ctx); err != nil {
		return nil, wakeInfo{}, err
	}
	q.takeMu.Lock()
	entries, w, err := q.takeLocked(ctx, n)
	if replyCode(err) == "NOGROUP" {
		// The streams vanished (a flush, or a restart without persistence):
		// recreate the groups and try once more.
		q.ready.Store(false)
		if err = q.ensure(ctx); err == nil {
			entries, w, err = q.takeLocked(ctx, n)
		}
	}
	q.takeMu.Unlock()
	if err != nil {
		return nil, wakeInfo{}, err
	}
	jobs := make([]recall.Job, 0, len(entries))
	for _, e := range entries {
		job, err := decode(e.payload)
		if err != nil || !job.Priority.Valid() {
			q.dropUndecodable(ctx, e.receipt, e.payload, err)
			continue
		}
		job.Receipt = e.receipt
		jobs = append(jobs, job)
	}
	return jobs, w, nil
}

// entry is one delivered stream entry: its receipt ("<lane>:<id>") and the
// job's JSON.
type entry struct{ receipt, payload string }

// takeLocked runs take's steps; the caller holds takeMu.
func (q *Queue) takeLocked(ctx context.Context, n int) ([]entry, wakeInfo, error) {
	got, err := q.resumeOwn(ctx, n)
	if err != nil {
		return nil, wakeInfo{}, err
	}
	if now := time.Now(); len(got) < n && !now.Before(q.nextReclaim) {
		more, err := q.reclaimIdle(ctx, n-len(got))
		if err != nil {
			return nil, wakeInfo{}, err
		}
		got = append(got, more...)
		q.nextReclaim = now.Add(q.every)
	}
	if len(got) == n {
		return got, wakeInfo{}, nil
	}
	more, w, err := q.takeNew(ctx, n-len(got))
	return append(got, more...), w, err
}

// resumeOwn returns up to n of the entries this consumer name holds but
// has not settled, high lane first, oldest first: after a restart under the
// same name they come back at once instead of after the visibility timeout.
// One XREADGROUP reads every lane whose walk is not over; a lane that
// answers with fewer than asked is done, so a Queue pays for this step only
// until its first calls have found everything.
func (q *Queue) resumeOwn(ctx context.Context, n int) ([]entry, error) {
	var lanes []int
	for i, cur := range q.resume {
		if cur != "" {
			lanes = append(lanes, i)
		}
	}
	if len(lanes) == 0 {
		return nil, nil
	}
	streams := make([]string, 2*len(lanes))
	for j, i := range lanes {
		streams[j], streams[len(lanes)+j] = q.keys[i], q.resume[i]
	}
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: q.group, Consumer: q.consumer,
		Streams: streams, Count: int64(n), Block: -1}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisErr(err, "resume pending jobs")
	}
	read := map[string][]redis.XMessage{}
	for _, st := range res {
		read[st.Stream] = st.Messages
	}
	var got []entry
	for _, i := range lanes {
		msgs := read[q.keys[i]]
		used := 0
		for _, m := range msgs {
			if len(got) == n {
				break
			}
			used++
			if e, ok := q.entryOf(ctx, i, m); ok {
				got = append(got, e)
			}
		}
		switch {
		case used == 0 && len(msgs) > 0: // n reached before this lane
		case used < len(msgs) || len(msgs) == n:
			q.resume[i] = msgs[used-1].ID
		default:
			q.resume[i] = ""
		}
	}
	return got, nil
}

// reclaimIdle takes over up to n entries that other consumers have held
// longer than the visibility timeout (they died, or lost their
// connection), high lane first. Each lane's XAUTOCLAIM scan goes on where
// the previous one stopped, so a long pending list is walked, not re-read.
func (q *Queue) reclaimIdle(ctx context.Context, n int) ([]entry, error) {
	var got []entry
	for i := range 3 {
		if len(got) == n {
			break
		}
		msgs, next, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q.keys[i], Group: q.group,
			Consumer: q.consumer, MinIdle: q.vis, Start: q.reclaim[i], Count: int64(n - len(got))}).Result()
		if err != nil {
			return nil, redisErr(err, "reclaim idle jobs")
		}
		q.reclaim[i] = next
		for _, m := range msgs {
			if e, ok := q.entryOf(ctx, i, m); ok {
				got = append(got, e)
			}
		}
	}
	return got, nil
}

// entryOf is m of lane i as a delivery; an entry without a payload gets
// an empty one, which take dead-letters as undecodable. An entry deleted
// while still pending (its job was acked through another delivery) has no
// fields at all: it is acknowledged so it leaves the pending list, and not
// delivered.
func (q *Queue) entryOf(ctx context.Context, i int, m redis.XMessage) (entry, bool) {
	if m.Values != nil {
		p, _ := m.Values["j"].(string)
		return entry{receipt: laneCodes[i] + ":" + m.ID, payload: p}, true
	}
	if err := q.rdb.XAck(ctx, q.keys[i], q.group, m.ID).Err(); err != nil {
		q.log.WarnContext(ctx, "could not drop a deleted queue entry from the pending list", "receipt", laneCodes[i]+":"+m.ID, "error", err.Error())
	}
	return entry{}, false
}

// takeNew claims up to n new entries with the take script, planning how
// many each lane gives by the weighted round robin, and charges what the
// lanes gave to their credits.
func (q *Queue) takeNew(ctx context.Context, n int) ([]entry, wakeInfo, error) {
	want := plan(q.credits, n)
	res, err := takeScript.Run(ctx, q.rdb, q.keys, q.group, q.consumer, want[0], want[1], want[2]).Slice()
	if err != nil {
		return nil, wakeInfo{}, redisErr(err, "receive")
	}
	entries, got, dry, w, ok := parseTake(res)
	if !ok {
		return nil, wakeInfo{}, recall.Errorf(recall.EINTERNAL, "redisq: receive: unexpected script reply %v", res)
	}
	q.credits = charge(q.credits, got, dry)
	return entries, w, nil
}

// roundWeights are the deliveries each lane gets in one round of the
// weighted round robin, highest priority first (recall.Priority.Weight).
func roundWeights() (w [3]int) {
	for i, p := range recall.Priorities {
		w[i] = p.Weight()
	}
	return w
}

// plan splits n deliveries over the lanes the way the weighted round robin
// serves them when every lane has work: each lane takes what is left of its
// turn in this round, high first, then a new round grants every lane its
// weight again. The take script reads the lanes in priority order and
// passes a lane's shortfall on to the lanes below it.
func plan(credits [3]int, n int) (want [3]int) {
	for n > 0 {
		if credits == ([3]int{}) {
			credits = roundWeights()
		}
		for i := range credits {
			k := min(credits[i], n)
			want[i], credits[i], n = want[i]+k, credits[i]-k, n-k
		}
	}
	return want
}

// charge spends what each lane delivered from its credits. A lane that
// took more than it had left (the script passed it a dry lane's share) pays
// with further rounds, which grant every other lane its weight as well, so
// over many calls each lane with work still gets its weight's share. A lane
// that ran dry passes the rest of its turn; it is asked again from the next
// round on. Credits saved up this way are capped at maxRounds rounds, so a
// lane cannot bank an unbounded burst.
func charge(credits, got [3]int, dry [3]bool) [3]int {
	w := roundWeights()
	for i := range credits {
		credits[i] -= got[i]
	}
	for credits[0] < 0 || credits[1] < 0 || credits[2] < 0 {
		for i := range credits {
			credits[i] += w[i]
		}
	}
	for i := range credits {
		if dry[i] {
			credits[i] = 0
		}
		credits[i] = min(credits[i], maxRounds*w[i])
	}
	return credits
}

// maxRounds caps the credits a lane can save up, in rounds.
const maxRounds = 4

// parseTake unpacks the take script's reply: the entries, how many each
// lane gave, which lanes ran dry, and what to wait for.
func parseTake(res []any) (entries []entry, got [3]int, dry [3]bool, w wakeInfo, ok bool) {
	if len(res) != 7 {
		return nil, got, dry, w, false
	}
	for lane := range 3 {
		flat, ok := strs(res[lane]) // id, payload, id, payload, ...
		if !ok || len(flat)%2 != 0 {
			return nil, got, dry, w, false
		}
		for i := 0; i < len(flat); i += 2 {
			entries = append(entries, entry{receipt: laneCodes[lane] + ":" + flat[i], payload: flat[i+1]})
		}
		got[lane] = len(flat) / 2
	}
	d, ok1 := ints(res[3])
	now, ok2 := res[4].(int64)
	due, ok3 := res[5].(int64)
	last, ok4 := strs(res[6])
	if !(ok1 && ok2 && ok3 && ok4) || len(d) != 3 || len(last) != 3 {
		return nil, got, dry, w, false
	}
	for i := range 3 {
		dry[i] = d[i] == 1
		w.last[i] = last[i]
	}
	w.now, w.nextDue = now, due
	return entries, got, dry, w, true
}

func strs(v any) ([]string, bool) {
	a, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(a))
	for i, x := range a {
		if out[i], ok = x.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

func ints(v any) ([]int64, bool) {
	a, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(a))
	for i, x := range a {
		if out[i], ok = x.(int64); !ok {
			return nil, false
		}
	}
	return out, true
}

// dropUndecodable moves an entry nobody can run to the dead letters, so it
// is neither redelivered forever nor silently lost.
func (q *Queue) dropUndecodable(ctx context.Context, receipt, payload string, cause error) {
	reason := "undecodable job payload"
	if cause != nil {
		reason += ": " + cause.Error()
	}
	err := deadScript.Run(ctx, q.rdb, q.keys, q.group, receipt, "", payload, reason, q.maxDead, "1").Err()
	q.log.WarnContext(ctx, "dropped undecodable queue entry", "receipt", receipt, "error", errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ensure creates the consumer groups (and streams) once.
func (q *Queue) ensure(ctx context.Context) error {
	if q.ready.Load() {
		return nil
	}
	cmds, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range q.keys[:3] {
			p.XGroupCreateMkStream(ctx, k, q.group, "0")
		}
		return nil
	})
	if err != nil {
		for _, c := range cmds {
			if e := c.Err(); e != nil && replyCode(e) != "BUSYGROUP" {
				return redisErr(e, "create consumer groups")
			}
		}
	}
	q.ready.Store(true)
	return nil
}

// Ack ends the jobs' deliveries for good in one round trip. Jobs without a
// receipt, and receipts already settled, are ignored.
//
// Concurrent Acks are committed together: while one script call is on the
// wire, the acks that arrive queue up and go out as the next single call.
// A worker finishing fifty jobs at once then costs Redis a few calls, not
// fifty, which keeps ack latency (and so slot turnaround) flat under load.
func (q *Queue) Ack(ctx context.Context, jobs ...recall.Job) error {
	acks := make([]ack, 0, len(jobs))
	for _, j := range jobs {
		// A receipt this queue did not hand out names no entry: ignored.
		if lane, id, ok := parseReceipt(j.Receipt); ok {
			acks = append(acks, ack{lane: lane, id: id, receipt: j.Receipt, key: j.Key()})
		}
	}
	if len(acks) == 0 {
		return nil
	}
	req := &ackReq{acks: acks, done: make(chan error, 1)}
	q.ackMu.Lock()
	q.ackQueue = append(q.ackQueue, req)
	lead := !q.ackBusy
	q.ackBusy = true
	q.ackMu.Unlock()
	if lead {
		q.flushAcks(context.WithoutCancel(ctx))
	}
	select {
	case err := <-req.done:
		if err != nil {
			return redisErr(err, "ack %d jobs", len(jobs))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ackReq is one Ack call waiting for its batch to be committed.
type ackReq struct {
	acks []ack
	done chan error
}

// ack is one delivery to end: its lane and entry id, its receipt and job key.
type ack struct {
	lane             int
	id, receipt, key string
}

// parseReceipt splits a receipt ("<lane letter>:<entry id>").
func parseReceipt(r string) (lane int, id string, ok bool) {
	code, id, ok := strings.Cut(r, ":")
	lane = slices.Index(laneCodes[:], code)
	return lane, id, ok && lane >= 0 && id != ""
}

// maxAckBatch bounds one ack script's work (in deliveries).
const maxAckBatch = 512

// flushAcks commits one batch of queued acks, then hands the next batch to
// a new goroutine, so no caller waits on acks other than its own batch.
func (q *Queue) flushAcks(ctx context.Context) {
	q.ackMu.Lock()
	var batch []*ackReq
	n := 0
	for len(q.ackQueue) > 0 && (n == 0 || n+len(q.ackQueue[0].acks) <= maxAckBatch) {
		n += len(q.ackQueue[0].acks)
		batch = append(batch, q.ackQueue[0])
		q.ackQueue[0] = nil
		q.ackQueue = q.ackQueue[1:]
	}
	q.ackMu.Unlock()

	// The script's arguments: the group, how many entries of each lane,
	// their ids lane by lane, then the job keys and their receipts.
	args := make([]any, 4, 4+3*n)
	args[0] = q.group
	var counts [3]int
	for lane := range counts {
		for _, r := range batch {
			for _, a := range r.acks {
				if a.lane == lane {
					args = append(args, a.id)
					counts[lane]++
				}
			}
		}
		args[1+lane] = counts[lane]
	}
	for _, r := range batch {
		for _, a := range r.acks {
			args = append(args, a.key)
		}
	}
	for _, r := range batch {
		for _, a := range r.acks {
			args = append(args, a.receipt)
		}
	}
	err := ackScript.Run(ctx, q.rdb, q.keys, args...).Err()
	for _, r := range batch {
		r.done <- err
	}

	q.ackMu.Lock()
	more := len(q.ackQueue) > 0
	q.ackBusy = more
	q.ackMu.Unlock()
	if more {
		go q.flushAcks(ctx)
	}
}

// Retry ends job's current delivery and schedules job (with the caller's
// Attempt) after delay. A stale receipt, or an empty one while the key is
// outstanding, makes it a no-op.
func (q *Queue) Retry(ctx context.Context, job recall.Job, delay time.Duration) error {
	lane := job.Priority.Lane()
	if lane < 0 {
		return recall.Errorf(recall.EINVALID, "redisq: invalid priority %q", job.Priority)
	}
	payload, err := encode(job)
	if err != nil {
		return err
	}
	ms := delay.Milliseconds()
	if delay > 0 && ms == 0 {
		ms = 1
	}
	if err := retryScript.Run(ctx, q.rdb, q.keys, q.group, job.Receipt, job.Key(), laneCodes[lane], payload, ms).Err(); err != nil {
		return redisErr(err, "retry %s", job.Key())
	}
	return nil
}

// DeadLetter ends job's current delivery and appends it to the dead letters
// with reason. A stale receipt makes it a no-op; an empty one only records.
func (q *Queue) DeadLetter(ctx context.Context, job recall.Job, reason string) error {
	payload, err := encode(job)
	if err != nil {
		return err
	}
	if err := deadScript.Run(ctx, q.rdb, q.keys, q.group, job.Receipt, job.Key(), payload, reason, q.maxDead, "0").Err(); err != nil {
		return redisErr(err, "dead-letter %s", job.Key())
	}
	return nil
}

// DeadLetters lists up to limit dead letters (all when limit <= 0), oldest
// first. An entry whose payload cannot be decoded is listed with an empty
// Job so an operator still sees it.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]recall.DeadLetter, error) {
	var msgs []redis.XMessage
	var err error
	if limit > 0 {
		msgs, err = q.rdb.XRangeN(ctx, q.keys[5], "-", "+", int64(limit)).Result()
	} else {
		msgs, err = q.rdb.XRange(ctx, q.keys[5], "-", "+").Result()
	}
	if err != nil {
		return nil, redisErr(err, "list dead letters")
	}
	out := make([]recall.DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, deadLetterOf(m))
	}
	return out, nil
}

func deadLetterOf(m redis.XMessage) recall.DeadLetter {
	d := recall.DeadLetter{ID: m.ID, At: idTime(m.ID)}
	d.Reason, _ = m.Values["reason"].(string)
	if p, ok := m.Values["j"].(string); ok {
		var err error
		if d.Job, err = decode(p); err != nil && d.Reason == "" {
			d.Reason = "undecodable job payload"
		}
	}
	return d
}

// idTime is the time in a stream entry id ("<ms>-<seq>").
func idTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// Redrive moves the named dead letters (all when ids is empty) back into
// the queue as first attempts, and returns how many it moved. Ids that are
// not dead letters (any more) are ignored.
func (q *Queue) Redrive(ctx context.Context, ids []string) (int, error) {
	if len(ids) > 0 {
		cmds, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range ids {
				p.XRange(ctx, q.keys[5], id, id)
			}
			return nil
		})
		if err != nil {
			for _, c := range cmds {
				// An id that is no stream id is an error reply for that
				// one command; it names no dead letter, so it is skipped.
				if e := c.Err(); e != nil && replyCode(e) != "ERR" {
					return 0, redisErr(e, "read dead letters")
				}
			}
		}
		var msgs []redis.XMessage
		for _, c := range cmds {
			if m, err := c.(*redis.XMessageSliceCmd).Result(); err == nil {
				msgs = append(msgs, m...)
			}
		}
		return q.redrive(ctx, msgs)
	}
	total, start := 0, "-"
	for {
		msgs, err := q.rdb.XRangeN(ctx, q.keys[5], start, "+", 100).Result()
		if err != nil {
			return total, redisErr(err, "read dead letters")
		}
		if len(msgs) == 0 {
			return total, nil
		}
		n, err := q.redrive(ctx, msgs)
		total += n
		if err != nil {
			return total, err
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

func (q *Queue) redrive(ctx context.Context, msgs []redis.XMessage) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	var args []any
	for _, m := range msgs {
		d := deadLetterOf(m)
		lane := d.Job.Priority.Lane()
		if lane < 0 {
			continue // undecodable: leave it for an operator to read
		}
		job := d.Job
		job.Attempt = 1
		job.EnqueuedAt = now
		payload, err := encode(job)
		if err != nil {
			return 0, err
		}
		args = append(args, m.ID, laneCodes[lane], job.Key(), payload)
	}
	if len(args) == 0 {
		return 0, nil
	}
	n, err := redriveScript.Run(ctx, q.rdb, q.keys, args...).Int()
	if err != nil {
		return 0, redisErr(err, "redrive")
	}
	return n, nil
}

// DeleteDeadLetters removes the named dead letters for good and returns how
// many existed: for `recall queue dlq` when an operator gives up on a job.
func (q *Queue) DeleteDeadLetters(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := q.rdb.XDel(ctx, q.keys[5], ids...).Result()
	if err != nil {
		return 0, redisErr(err, "delete dead letters")
	}
	return int(n), nil
}

// Ping checks Redis answers.
func (q *Queue) Ping(ctx context.Context) error {
	if err := q.rdb.Ping(ctx).Err(); err != nil {
		return redisErr(err, "ping")
	}
	return nil
}

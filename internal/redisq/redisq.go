// Package redisq is Recall's Redis Streams queue, and the only package that
// speaks Redis: every key, script and command lives here.
//
// Layout. Each priority has two streams, its normal lane and its overflow
// lane (see Fairness), read by one consumer group; a hash maps every
// outstanding job key to its stream entry (or its scheduled retry), a
// sorted set holds retries by due time, a stream holds dead letters, a hash
// counts each owner's outstanding jobs and a hash holds the consumers'
// heartbeats. Every key carries one hash tag ({recall}:q:high, ...), so the
// queue lives in one cluster slot and each operation that changes more than
// one key is a single Lua script: atomic even on a cluster or ElastiCache
// Serverless. No key has a TTL.
//
// Delivery is at least once. Receive reads new entries with XREADGROUP; Ack
// does XACK and XDEL together, so acked entries never accumulate and no
// MAXLEN trimming (which could drop unacked work) is needed. Every consumer
// name is held by one live process through a heartbeat (consumer.go); a
// step of its own, run every ReclaimEvery, takes over at once the entries
// of consumers whose heartbeat lapsed, and with XAUTOCLAIM those any
// consumer held longer than the visibility timeout. A process that claims
// a dead predecessor's name first takes back that name's pending entries
// (XREADGROUP from id 0). Retries wait in the sorted set and are moved into
// their stream by the next Receive after they fall due, so no consumer
// sleeps on a delay.
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
// 1), served in that order; a priority without work passes its turn. With
// every priority busy high gets 60%, default 30% and low 10%, so low is
// never starved. The credits live in each Queue value (per process), in Go:
// the take script is told how many entries to read from each priority, so
// the policy costs no shared counter every consumer would contend on.
//
// Fairness. The owners hash counts each owner's outstanding jobs (waiting,
// in flight or scheduled for retry), changed by the same scripts that add
// and remove the jobs. A job whose owner already has FairShare outstanding
// goes to its priority's overflow lane, and a priority serves its overflow
// lane only when its normal lane is empty. So one owner's backlog of a
// thousand jobs waits behind the few jobs of everyone else, while nothing
// is held back when nobody else has work. A count left too high (a partial
// data loss, keys deleted by hand) only demotes that owner's new jobs to
// the overflow lane, which is still served; it never goes below zero, and
// it is reset whenever the queue has no outstanding job at all.
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
	// Consumer is the name this process asks for in the group (host-pid
	// when empty). It gets it unless a live process holds it, and then
	// that name with a random suffix: two live processes never share a
	// name. Give a long-running worker a stable name, so a restart takes
	// back its predecessor's pending jobs at once.
	Consumer string
	// Visibility is how long a delivered job may stay unacked before
	// another consumer takes it over. It must exceed the analyzer's timeout
	// (DefaultVisibility when zero).
	Visibility time.Duration
	// Heartbeat is how long a consumer name stays held without a renewal
	// (DefaultHeartbeat when zero). A consumer that dies has its jobs taken
	// over within Heartbeat + ReclaimEvery.
	Heartbeat time.Duration
	// ReclaimEvery is how often a Receive looks for jobs to take over from
	// dead consumers (the lesser of Visibility/4 and Heartbeat/2, between
	// 50ms and 30s, when zero).
	ReclaimEvery time.Duration
	// FairShare is how many outstanding jobs an owner may have in the
	// normal lanes; the rest wait in the overflow lanes
	// (recall.DefaultFairShare when zero).
	FairShare int
	// MaxDeadLetters bounds the dead-letter stream (DefaultMaxDeadLetters
	// when zero, unbounded when negative).
	MaxDeadLetters int64
	// Logger receives warnings about entries the queue had to drop.
	Logger *slog.Logger
}

// Queue is a recall.Queue on Redis Streams. It is safe for concurrent use.
// A Queue that has received holds a consumer name and renews its heartbeat
// until Close.
type Queue struct {
	rdb     redis.UniversalClient
	keys    []string
	group   string
	base    string // the consumer name asked for
	vis     time.Duration
	beat    time.Duration
	every   time.Duration
	share   int
	maxDead int64
	log     *slog.Logger

	ready atomic.Bool // consumer groups exist

	// The consumer name held (nil before the first take) and the
	// heartbeat goroutine's life; see consumer.go.
	id       atomic.Pointer[identity]
	closed   atomic.Bool
	lifeMu   sync.Mutex
	beatStop chan struct{}
	beatDone chan struct{}

	// takeMu serializes the takes of this Queue, so the per-process state
	// below is never raced.
	takeMu sync.Mutex
	// credits are what is left of each priority's turn in the current
	// round of the weighted round robin (see plan).
	credits [3]int
	// resume holds, per lane, where the walk through the held name's own
	// pending entries goes on ("" when done).
	resume [6]string
	// idleFrom holds, per lane, where the next XAUTOCLAIM scan starts.
	idleFrom    [6]string
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

// Lanes. Lane i < 3 is priority i's normal lane, lane i+3 its overflow
// lane; laneCodes name them in receipts and in the scripts, laneKeys are
// their streams' indexes in Queue.keys (the scripts' KEYS, less one).
var (
	laneCodes = [6]string{"h", "d", "l", "H", "D", "L"}
	laneKeys  = [6]int{0, 1, 2, 6, 7, 8}
)

// stream is lane's stream key.
func (q *Queue) stream(lane int) string { return q.keys[laneKeys[lane]] }

// New returns a queue on client. It does no I/O; the consumer groups are
// created on first use, and the consumer name is claimed by the first
// Receive.
func New(client redis.UniversalClient, opts Options) *Queue {
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
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.ReclaimEvery <= 0 {
		opts.ReclaimEvery = min(max(min(opts.Visibility/4, opts.Heartbeat/2), 50*time.Millisecond), 30*time.Second)
	}
	if opts.FairShare <= 0 {
		opts.FairShare = recall.DefaultFairShare
	}
	if opts.MaxDeadLetters == 0 {
		opts.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tag := tagged(opts.Prefix) + "q:"
	return &Queue{
		rdb: client,
		keys: []string{tag + "high", tag + "default", tag + "low", tag + "jobs", tag + "retry", tag + "dead",
			tag + "high:overflow", tag + "default:overflow", tag + "low:overflow", tag + "owners", tag + "consumers"},
		group:    opts.Group,
		base:     opts.Consumer,
		vis:      opts.Visibility,
		beat:     opts.Heartbeat,
		every:    opts.ReclaimEvery,
		share:    opts.FairShare,
		maxDead:  max(opts.MaxDeadLetters, 0),
		log:      opts.Logger,
		credits:  roundWeights(),
		resume:   freshCursors("0"),
		idleFrom: freshCursors("0-0"),
	}
}

func freshCursors(v string) (c [6]string) {
	for i := range c {
		c[i] = v
	}
	return c
}

// Keys lists the Redis keys the queue uses: the high, default and low
// streams, the jobs hash, the retry set, the dead-letter stream, the high,
// default and low overflow streams, the owners hash and the consumers hash.
func (q *Queue) Keys() []string { return append([]string(nil), q.keys...) }

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
// script, one round trip. The job goes to its priority's normal lane, or
// to its overflow lane when its owner already has FairShare outstanding.
func (q *Queue) Enqueue(ctx context.Context, job recall.Job) error {
	lane := job.Priority.Lane()
	if lane < 0 {
		return recall.Errorf(recall.EINVALID, "redisq: invalid priority %q", job.Priority)
	}
	payload, err := encode(job)
	if err != nil {
		return err
	}
	if err := enqueueScript.Run(ctx, q.rdb, q.keys, laneCodes[lane], job.Key(), payload, job.Owner, q.share).Err(); err != nil {
		return redisErr(err, "enqueue %s", job.Key())
	}
	return nil
}

// Receive returns up to n jobs, waiting up to wait for the first. While it
// waits it blocks in XREAD on the streams (which claims nothing, so
// abandoning it on ctx cancellation loses nothing) and wakes for a new
// entry, a retry falling due or the next reclaim pass. The first Receive
// claims the Queue's consumer name.
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
	last         [6]string
}

// await blocks until a stream gets an entry after last, block passes, or
// ctx ends.
func (q *Queue) await(ctx context.Context, last [6]string, block time.Duration) error {
	streams := make([]string, 12)
	for i, id := range last {
		if id == "" {
			id = "0-0"
		}
		streams[i], streams[6+i] = q.stream(i), id
	}
	args := &redis.XReadArgs{Streams: streams, Count: 1, Block: block}
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
// has some: a Queue that claimed a dead predecessor's name first gets back
// the entries held under it (resumeOwn); every ReclaimEvery it takes over
// the entries of dead consumers and those held past the visibility timeout
// (reclaim); the rest are new entries by weighted round robin (takeNew).
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

// takeLocked runs take's steps under the consumer name held; the caller
// holds takeMu.
func (q *Queue) takeLocked(ctx context.Context, n int) ([]entry, wakeInfo, error) {
	id, err := q.claimedID(ctx)
	if err != nil {
		return nil, wakeInfo{}, err
	}
	got, err := q.resumeOwn(ctx, id.name, n)
	if err != nil {
		return nil, wakeInfo{}, err
	}
	if len(got) < n && !time.Now().Before(q.nextReclaim) {
		more, err := q.reclaim(ctx, id, n-len(got))
		if err != nil {
			return nil, wakeInfo{}, err
		}
		got = append(got, more...)
	}
	if len(got) == n {
		return got, wakeInfo{}, nil
	}
	more, w, lost, err := q.takeNew(ctx, id, n-len(got))
	if lost {
		// Another process holds the name now: whatever it held is that
		// process's to resume. Take a new name and read under it.
		id.lost.Store(true)
		if id, err = q.claimedID(ctx); err == nil {
			more, w, _, err = q.takeNew(ctx, id, n-len(got))
		}
	}
	return append(got, more...), w, err
}

// reclaim is the reclaim step: up to n entries of dead consumers, then of
// consumers that held theirs past the visibility timeout.
func (q *Queue) reclaim(ctx context.Context, id *identity, n int) ([]entry, error) {
	now := time.Now()
	got, more, lost, err := q.reclaimDead(ctx, id, n)
	if err != nil {
		return nil, err
	}
	if lost {
		id.lost.Store(true) // the next take claims a new name
		return nil, nil
	}
	if len(got) < n {
		idle, err := q.reclaimIdle(ctx, id.name, n-len(got))
		if err != nil {
			return nil, err
		}
		got = append(got, idle...)
	}
	q.nextReclaim = now.Add(q.every)
	if more {
		q.nextReclaim = now // a dead consumer held more than n: go on next time
	}
	return got, nil
}

// resumeOwn returns up to n of the entries the name held has not settled,
// high lane first, oldest first: after a restart under the same name they
// come back at once instead of after the visibility timeout. One
// XREADGROUP reads every lane whose walk is not over; a lane that answers
// with fewer than asked is done, so a Queue pays for this step only until
// its first calls have found everything.
func (q *Queue) resumeOwn(ctx context.Context, name string, n int) ([]entry, error) {
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
		streams[j], streams[len(lanes)+j] = q.stream(i), q.resume[i]
	}
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: q.group, Consumer: name,
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
		msgs := read[q.stream(i)]
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
// longer than the visibility timeout (they hang, or died without a
// heartbeat record), high lane first. Each lane's XAUTOCLAIM scan goes on
// where the previous one stopped, so a long pending list is walked, not
// re-read.
func (q *Queue) reclaimIdle(ctx context.Context, name string, n int) ([]entry, error) {
	var got []entry
	for i := range 6 {
		if len(got) == n {
			break
		}
		msgs, next, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q.stream(i), Group: q.group,
			Consumer: name, MinIdle: q.vis, Start: q.idleFrom[i], Count: int64(n - len(got))}).Result()
		if err != nil {
			return nil, redisErr(err, "reclaim idle jobs")
		}
		q.idleFrom[i] = next
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
	if err := q.rdb.XAck(ctx, q.stream(i), q.group, m.ID).Err(); err != nil {
		q.log.WarnContext(ctx, "could not drop a deleted queue entry from the pending list", "receipt", laneCodes[i]+":"+m.ID, "error", err.Error())
	}
	return entry{}, false
}

// takeNew claims up to n new entries with the take script, planning how
// many each priority gives by the weighted round robin, and charges what
// the priorities gave to their credits. lost reports that another process
// holds the name, and nothing was read.
func (q *Queue) takeNew(ctx context.Context, id *identity, n int) (entries []entry, w wakeInfo, lost bool, err error) {
	want := plan(q.credits, n)
	res, err := takeScript.Run(ctx, q.rdb, q.keys, q.group, id.name, id.token, q.beat.Milliseconds(), want[0], want[1], want[2]).Result()
	if err != nil {
		return nil, wakeInfo{}, false, redisErr(err, "receive")
	}
	if v, ok := res.(int64); ok && v == 0 {
		return nil, wakeInfo{}, true, nil
	}
	entries, got, dry, w, ok := parseTake(res)
	if !ok {
		return nil, wakeInfo{}, false, recall.Errorf(recall.EINTERNAL, "redisq: receive: unexpected script reply %v", res)
	}
	q.credits = charge(q.credits, got, dry)
	return entries, w, false, nil
}

// roundWeights are the deliveries each priority gets in one round of the
// weighted round robin, highest first (recall.Priority.Weight).
func roundWeights() (w [3]int) {
	for i, p := range recall.Priorities {
		w[i] = p.Weight()
	}
	return w
}

// plan splits n deliveries over the priorities the way the weighted round
// robin serves them when every priority has work: each takes what is left
// of its turn in this round, high first, then a new round grants every
// priority its weight again. The take script reads the priorities in order
// (each from its normal lane, then its overflow lane) and passes a
// priority's shortfall on to those below it.
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

// charge spends what each priority delivered from its credits. One that
// took more than it had left (the script passed it a dry priority's share)
// pays with further rounds, which grant every other priority its weight as
// well, so over many calls each priority with work still gets its weight's
// share. One that ran dry passes the rest of its turn; it is asked again
// from the next round on. Credits saved up this way are capped at
// maxRounds rounds, so a priority cannot bank an unbounded burst.
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

// maxRounds caps the credits a priority can save up, in rounds.
const maxRounds = 4

// parseTake unpacks the take script's reply: the entries, how many each
// priority gave (from either of its lanes), which priorities ran dry, and
// what to wait for.
func parseTake(reply any) (entries []entry, got [3]int, dry [3]bool, w wakeInfo, ok bool) {
	res, ok := reply.([]any)
	if !ok || len(res) != 10 {
		return nil, got, dry, w, false
	}
	for _, lane := range [6]int{0, 3, 1, 4, 2, 5} { // by priority, normal lane first
		flat, ok := list[string](res[lane]) // id, payload, id, payload, ...
		if !ok || len(flat)%2 != 0 {
			return nil, got, dry, w, false
		}
		for i := 0; i < len(flat); i += 2 {
			entries = append(entries, entry{receipt: laneCodes[lane] + ":" + flat[i], payload: flat[i+1]})
		}
		got[lane%3] += len(flat) / 2
	}
	d, ok1 := list[int64](res[6])
	now, ok2 := res[7].(int64)
	due, ok3 := res[8].(int64)
	last, ok4 := list[string](res[9])
	if !(ok1 && ok2 && ok3 && ok4) || len(d) != 3 || len(last) != 6 {
		return nil, got, dry, w, false
	}
	for i := range 3 {
		dry[i] = d[i] == 1
	}
	copy(w.last[:], last)
	w.now, w.nextDue = now, due
	return entries, got, dry, w, true
}

// tagged is how every key under prefix (DefaultPrefix when empty) starts:
// the prefix in braces, Redis Cluster's hash tag, so a deployment's keys
// share one slot and one script or MULTI may touch several of them.
func tagged(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return "{" + prefix + "}:"
}

// list reads a script's reply array whose items are all T (string for
// bulk replies, int64 for integers); ok is false when v is not an array or
// an item is of another type, a reply the caller treats as malformed.
func list[T any](v any) ([]T, bool) {
	a, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]T, len(a))
	for i, x := range a {
		if out[i], ok = x.(T); !ok {
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
	err := deadScript.Run(ctx, q.rdb, q.keys, q.group, receipt, "", payload, reason, q.maxDead, "1", "").Err()
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
		for lane := range 6 {
			p.XGroupCreateMkStream(ctx, q.stream(lane), q.group, "0")
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
			acks = append(acks, ack{lane: lane, id: id, receipt: j.Receipt, key: j.Key(), owner: j.Owner})
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

// ack is one delivery to end: its lane and entry id, its receipt, job key
// and owner.
type ack struct {
	lane                    int
	id, receipt, key, owner string
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
	// their ids lane by lane, then the job keys, their receipts and their
	// owners.
	args := make([]any, 7, 7+4*n)
	args[0] = q.group
	var counts [6]int
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
	for _, r := range batch {
		for _, a := range r.acks {
			args = append(args, a.owner)
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
// outstanding, makes it a no-op. The job stays outstanding, counted for its
// owner, and goes to its normal or overflow lane by that count.
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
	if err := retryScript.Run(ctx, q.rdb, q.keys, q.group, job.Receipt, job.Key(), laneCodes[lane], payload, ms, job.Owner, q.share).Err(); err != nil {
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
	if err := deadScript.Run(ctx, q.rdb, q.keys, q.group, job.Receipt, job.Key(), payload, reason, q.maxDead, "0", job.Owner).Err(); err != nil {
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
	args := []any{q.share}
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
		args = append(args, m.ID, laneCodes[lane], job.Key(), payload, job.Owner)
	}
	if len(args) == 1 {
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

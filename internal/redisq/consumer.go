package redisq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
)

// Consumer names. A consumer name owns the entries delivered under it: a
// process that takes a name another live process holds re-reads that
// process's pending entries and runs its in-flight jobs. So a name is held
// by one live process at a time, through a heartbeat: a record in the
// consumers hash with a deadline (Redis's clock) and a token only the
// holder knows, renewed every Heartbeat/3 by a goroutine the Queue runs
// from its first Receive until Close, and by every take in the same step
// as the read.
//
// A Queue first claims the name it was given (Options.Consumer). It gets
// it when nobody holds it or the holder's heartbeat has lapsed (a crashed
// or stopped predecessor: the restarted worker then resumes its
// predecessor's pending entries at once); while a live process holds it,
// it takes the name with a random suffix instead. Close releases the name
// (its deadline becomes now), so a graceful restart claims it back at
// once.
//
// A consumer whose heartbeat has lapsed is dead: the reclaim step, which
// every consumer runs every ReclaimEvery, moves its pending entries to
// itself at once (reclaimDead), without waiting out the visibility
// timeout, and deletes it once it holds nothing. A crashed worker's jobs
// are thus running again within Heartbeat + ReclaimEvery. Consumers
// without any record (from a version without heartbeats) are left to the
// visibility timeout, as before.

// DefaultHeartbeat is how long a consumer name stays held without a
// renewal (Options.Heartbeat).
const DefaultHeartbeat = 10 * time.Second

// identity is the consumer name this Queue holds and the token that proves
// it. lost is set when a renewal finds another process holding the name.
type identity struct {
	name, token string
	lost        atomic.Bool
}

// Consumer is this process's name in the consumer group: the name it was
// given until its first Receive claims one, then the name it holds (the
// given one, or that name with a suffix when a live process held it).
func (q *Queue) Consumer() string {
	if id := q.id.Load(); id != nil {
		return id.name
	}
	return q.base
}

// claimedID returns the name this Queue holds, claiming one first if it
// holds none or lost its own. The caller holds takeMu.
func (q *Queue) claimedID(ctx context.Context) (*identity, error) {
	if q.closed.Load() {
		return nil, recall.Errorf(recall.EUNAVAILABLE, "redisq: queue closed: it no longer holds a consumer name")
	}
	if id := q.id.Load(); id != nil && !id.lost.Load() {
		return id, nil
	}
	token := randomHex(8)
	name := q.base
	for try := 0; ; try++ {
		ok, err := beatScript.Run(ctx, q.rdb, q.keys, name, token, q.beat.Milliseconds(), "1").Bool()
		if err != nil {
			return nil, redisErr(err, "claim consumer name %s", name)
		}
		if ok {
			break
		}
		if try == 8 {
			return nil, recall.Errorf(recall.EUNAVAILABLE, "redisq: no free consumer name like %s after %d tries", q.base, try+1)
		}
		name = q.base + "-" + randomHex(3)
	}
	id := &identity{name: name, token: token}
	if old := q.id.Swap(id); old != nil {
		q.log.WarnContext(ctx, "redis consumer name lost to another process; took a new one", "consumer", name, "lost", old.name)
	}
	// A name's pending entries are this process's to resume: its own after
	// a restart, none for a fresh name.
	q.resume = freshCursors("0")
	q.startBeat()
	q.log.InfoContext(ctx, "redis consumer registered", "consumer", name, "asked_for", q.base)
	return id, nil
}

// beatScript renews (ARGV[4] "0") or claims ("1") a consumer name.
// ARGV: name, token, heartbeat ms, claim. Returns 1 when held, 0 when
// another process holds it.
var beatScript = redis.NewScript(luaBeat + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if beat(ARGV[1], ARGV[2], ARGV[3], now, ARGV[4] == '1') then return 1 end
return 0
`)

// releaseScript ends a heartbeat now if it is still the caller's, so the
// name's leftover entries are reclaimed at once and a restart under the
// same name claims it at once. ARGV: name, token.
var releaseScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[11], ARGV[1])
if v and string.match(v, '^%d+:(.*)$') == ARGV[2] then
  redis.call('HSET', KEYS[11], ARGV[1], '0:' .. ARGV[2])
end
return 1
`)

// startBeat starts the heartbeat goroutine once, unless the Queue is closed.
func (q *Queue) startBeat() {
	q.lifeMu.Lock()
	defer q.lifeMu.Unlock()
	if q.beatStop != nil || q.closed.Load() {
		return
	}
	q.beatStop = make(chan struct{})
	q.beatDone = make(chan struct{})
	go q.heartbeat(q.beatStop, q.beatDone)
}

// heartbeat renews the held name every Heartbeat/3 until stop closes. A
// renewal that finds another process holding the name marks it lost, and
// the next take claims a new one. Failed renewals are retried at the next
// tick: with Redis unreachable nobody can reclaim anything either.
func (q *Queue) heartbeat(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every := q.beat / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		id := q.id.Load()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		ok, err := beatScript.Run(ctx, q.rdb, q.keys, id.name, id.token, q.beat.Milliseconds(), "0").Bool()
		cancel()
		switch {
		case err != nil:
			q.log.Warn("redis consumer heartbeat failed", "consumer", id.name, "error", err.Error())
		case !ok:
			id.lost.Store(true)
			q.log.Warn("redis consumer name taken by another process", "consumer", id.name)
		}
	}
}

// Close stops the heartbeat and releases the consumer name, so what this
// process still held is reclaimed by the others at their next reclaim step
// and a restart under the same name resumes it at once. Receive fails
// after Close; Enqueue, Ack and the rest still work, so a server can
// finish its requests. It closes no client. It is safe to call twice.
func (q *Queue) Close() error {
	q.lifeMu.Lock()
	if q.closed.Swap(true) {
		q.lifeMu.Unlock()
		return nil
	}
	stop, done := q.beatStop, q.beatDone
	q.lifeMu.Unlock()
	if stop == nil {
		return nil // never received: holds no name
	}
	close(stop)
	<-done
	id := q.id.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := releaseScript.Run(ctx, q.rdb, q.keys, id.name, id.token).Err(); err != nil {
		return redisErr(err, "release consumer name %s", id.name)
	}
	return nil
}

// reclaimDeadScript moves to the calling consumer up to count entries held
// by consumers whose heartbeat has lapsed, lane by lane, and deletes each
// dead consumer (and its record) once it holds nothing. The caller's own
// heartbeat is renewed first, in the same step. It never looks at the
// visibility timeout: a dead consumer's jobs are running nowhere.
// ARGV: group, consumer, token, heartbeat ms, count.
// Returns 0 when another process holds the caller's name, else {the six
// lanes' entries (flat id, payload lists), 1 if more may be left}.
var reclaimDeadScript = redis.NewScript(luaLanes + luaBeat + `
local group, me, count = ARGV[1], ARGV[2], tonumber(ARGV[5])
local now = nowms()
if not beat(me, ARGV[3], ARGV[4], now, false) then return 0 end
local out, got = {{}, {}, {}, {}, {}, {}}, 0
local function take(i, key, name)
  local ids, seen = {}, {}
  for _, p in ipairs(redis.call('XPENDING', key, group, '-', '+', count - got, name)) do ids[#ids + 1] = p[1] end
  if #ids == 0 then return end
  for _, e in ipairs(redis.call('XCLAIM', key, group, me, 0, unpack(ids))) do
    if e and e[2] then
      local o = out[i]
      o[#o + 1] = e[1]
      o[#o + 1] = e[2][2] or ''
      got = got + 1
      seen[e[1]] = true
    end
  end
  -- Entries deleted from the stream come back from XCLAIM as nothing (or
  -- not at all); drop them from the pending list.
  for _, id in ipairs(ids) do
    if not seen[id] then redis.call('XACK', key, group, id) end
  end
end
local recs = redis.call('HGETALL', KEYS[11])
for j = 1, #recs, 2 do
  local name = recs[j]
  if name ~= me and tonumber(string.match(recs[j + 1], '^(%d+):')) <= now then
    local left = 0
    for i = 1, 6 do
      local key = KEYS[STREAMS[i]]
      if got < count then take(i, key, name) end
      left = left + #redis.call('XPENDING', key, group, '-', '+', 1, name)
    end
    if left == 0 then
      for i = 1, 6 do redis.call('XGROUP', 'DELCONSUMER', KEYS[STREAMS[i]], group, name) end
      redis.call('HDEL', KEYS[11], name)
    end
  end
end
local more = 0
if got >= count then more = 1 end
return {out[1], out[2], out[3], out[4], out[5], out[6], more}
`)

// reclaimDead takes over up to n entries of dead consumers (see
// reclaimDeadScript). more reports that it stopped at n, so the next take
// should look again at once. lost reports that another process holds this
// Queue's name.
func (q *Queue) reclaimDead(ctx context.Context, id *identity, n int) (got []entry, more, lost bool, err error) {
	res, err := reclaimDeadScript.Run(ctx, q.rdb, q.keys, q.group, id.name, id.token, q.beat.Milliseconds(), n).Result()
	if err != nil {
		return nil, false, false, redisErr(err, "reclaim jobs of dead consumers")
	}
	if v, ok := res.(int64); ok && v == 0 {
		return nil, false, true, nil
	}
	a, ok := res.([]any)
	if !ok || len(a) != 7 {
		return nil, false, false, recall.Errorf(recall.EINTERNAL, "redisq: reclaim: unexpected script reply %v", res)
	}
	for lane := range 6 {
		flat, ok := list[string](a[lane])
		if !ok || len(flat)%2 != 0 {
			return nil, false, false, recall.Errorf(recall.EINTERNAL, "redisq: reclaim: unexpected script reply %v", res)
		}
		for i := 0; i < len(flat); i += 2 {
			got = append(got, entry{receipt: laneCodes[lane] + ":" + flat[i], payload: flat[i+1]})
		}
	}
	m, _ := a[6].(int64)
	return got, m == 1, false, nil
}

// pruneScript deletes consumers that hold nothing and either have been idle
// at least the given ms or have a lapsed heartbeat, and forgets the records
// of dead consumers that hold nothing. It never deletes a consumer with
// pending entries: XGROUP DELCONSUMER would drop them for good.
// ARGV: group, min idle ms. Returns how many consumers it deleted from
// every lane.
var pruneScript = redis.NewScript(luaLanes + luaBeat + `
local group, minIdle, now = ARGV[1], tonumber(ARGV[2]), nowms()
local removed, kept, n = {}, {}, 0
for i = 1, 6 do
  local key = KEYS[STREAMS[i]]
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', key, group)) do
    local f = {}
    for j = 1, #c - 1, 2 do f[c[j]] = c[j + 1] end
    if f['pending'] == 0 and (f['idle'] >= minIdle or dead(f['name'], now)) then
      redis.call('XGROUP', 'DELCONSUMER', key, group, f['name'])
      removed[f['name']] = true
    else
      kept[f['name']] = true
    end
  end
end
for name in pairs(removed) do
  if not kept[name] then n = n + 1 end
end
local recs = redis.call('HGETALL', KEYS[11])
for j = 1, #recs, 2 do
  local name = recs[j]
  if dead(name, now) then
    local left = 0
    for i = 1, 6 do left = left + #redis.call('XPENDING', KEYS[STREAMS[i]], group, '-', '+', 1, name) end
    if left == 0 then redis.call('HDEL', KEYS[11], name) end
  end
end
return n
`)

// PruneConsumers removes consumers that hold no pending jobs and either
// have been idle at least idle or have a lapsed heartbeat, and returns how
// many it removed. Every Lambda container and every restart registers a
// consumer; the scheduled drain calls this so they do not pile up. The
// check and the removal are one script, because XGROUP DELCONSUMER drops
// the consumer's pending entries with it: a consumer that took a job in
// between would lose that job for good. Removing a live consumer that
// holds nothing is harmless: its next read registers it again.
func (q *Queue) PruneConsumers(ctx context.Context, idle time.Duration) (int, error) {
	if err := q.ensure(ctx); err != nil {
		return 0, err
	}
	n, err := pruneScript.Run(ctx, q.rdb, q.keys, q.group, idle.Milliseconds()).Int()
	if err != nil {
		return 0, redisErr(err, "prune consumers")
	}
	return n, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

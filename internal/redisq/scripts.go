package redisq

import "github.com/redis/go-redis/v9"

// The Lua scripts below are the queue's state machine. Each runs atomically
// on the one node that owns the queue's hash tag, so a job's dedupe entry,
// its stream entry and its owner's count never disagree, and each operation
// is one round trip.
//
// Every script gets the same KEYS, in this order:
//
//	KEYS[1..3]  the high, default and low streams (the normal lanes)
//	KEYS[4]     the jobs hash: job key -> receipt ("h:<entry id>") while the
//	            job is in a stream, or "s:<lane>:<payload>" while it waits out
//	            a retry delay. A key in this hash is "outstanding".
//	KEYS[5]     the retry sorted set: job key scored by due time (ms)
//	KEYS[6]     the dead-letter stream
//	KEYS[7..9]  the high, default and low overflow streams
//	KEYS[10]    the owners hash: owner -> how many of the jobs hash's jobs
//	            are theirs
//	KEYS[11]    the consumers hash: consumer name -> "<deadline ms>:<token>",
//	            the heartbeat of the process holding that name
//
// Lanes are named by one letter inside receipts and hash values: h, d and l
// for the normal lanes, H, D and L for the overflow lanes. No key ever gets
// a TTL: ElastiCache Serverless evicts keys with TTLs, so heartbeats are
// deadlines in a hash, judged by Redis's own clock (TIME), never expiries.

// luaLanes is shared by every script: lane letter <-> KEYS index, the
// clock, and the placement of a job in its priority's normal or overflow
// lane by its owner's count (see Queue's doc comment, Fairness).
const luaLanes = `
local LANE = {h = 1, d = 2, l = 3, H = 7, D = 8, L = 9}
local STREAMS = {1, 2, 3, 7, 8, 9}
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- place is the lane of a job of priority p (h, d or l) whose owner has n
-- outstanding jobs counting this one: the normal lane up to the fair share,
-- the priority's overflow lane beyond it.
local function place(p, n, share)
  if n > tonumber(share) then return string.upper(p) end
  return p
end
-- admit counts one more outstanding job for owner and places it.
local function admit(p, owner, share)
  return place(p, redis.call('HINCRBY', KEYS[10], owner, 1), share)
end
-- held is how many outstanding jobs owner has, this one included.
local function held(owner)
  return tonumber(redis.call('HGET', KEYS[10], owner) or '0')
end
-- release counts k of owner's jobs gone for good. A count never goes below
-- zero, and with no job outstanding at all every count must be zero, so the
-- hash is dropped: a count left too high (after a partial data loss, say)
-- lasts only until the queue next empties.
local function release(owner, k)
  if redis.call('HINCRBY', KEYS[10], owner, -k) <= 0 then redis.call('HDEL', KEYS[10], owner) end
  if redis.call('HLEN', KEYS[4]) == 0 then redis.call('DEL', KEYS[10]) end
end
`

// luaBeat renews or claims a consumer name (see consumer.go). A process
// renews its own record or makes one nobody holds; with claim set it also
// takes over a record whose deadline has passed (a dead process, or one
// that released its name). It returns false when another process holds
// the name: the caller has lost it.
const luaBeat = `
local function beat(name, token, ttl, now, claim)
  local v = redis.call('HGET', KEYS[11], name)
  if v then
    local deadline, holder = string.match(v, '^(%d+):(.*)$')
    if holder ~= token and not (claim and tonumber(deadline) <= now) then return false end
  end
  redis.call('HSET', KEYS[11], name, (now + tonumber(ttl)) .. ':' .. token)
  return true
end
local function dead(name, now)
  local v = redis.call('HGET', KEYS[11], name)
  return v and tonumber(string.match(v, '^(%d+):')) <= now
end
`

// enqueueScript adds a job unless its key is outstanding.
// ARGV: priority letter, job key, payload, owner, fair share.
// Returns 1 when added, 0 when a duplicate.
var enqueueScript = redis.NewScript(luaLanes + `
if redis.call('HSETNX', KEYS[4], ARGV[2], '') == 0 then return 0 end
local code = admit(ARGV[1], ARGV[4], ARGV[5])
local id = redis.call('XADD', KEYS[LANE[code]], '*', 'j', ARGV[3])
redis.call('HSET', KEYS[4], ARGV[2], code .. ':' .. id)
return 1
`)

// takeScript renews the consumer's heartbeat, moves due retries into their
// streams, then reads new entries for the consumer: each priority up to the
// count the caller planned for it (Queue.plan) plus whatever the priorities
// above it lacked, high first, each from its normal lane and only then from
// its overflow lane; what is still missing after low comes from any
// priority that did not run dry. When nothing was delivered it also says
// when to look again: the next retry's due time and each stream's last id,
// read in the same atomic step so an entry added after it wakes the
// caller's XREAD. The heartbeat is renewed in the same step as the read, so
// no entry is ever held under a name whose heartbeat has lapsed (a Lambda
// container thawed after its record expired renews before it reads).
//
// ARGV: group, consumer, token, heartbeat ms, count for high, default, low.
// Returns 0 when another process holds the consumer name, else {the six
// lanes' entries (each a flat id, payload list; normal lanes, then
// overflow), ran dry (0|1 per priority), now ms, next due ms or -1, last
// ids of the six streams}.
var takeScript = redis.NewScript(luaLanes + luaBeat + `
local group, consumer = ARGV[1], ARGV[2]
local now = nowms()
if not beat(consumer, ARGV[3], ARGV[4], now, false) then return 0 end
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[5], k)
  local v = redis.call('HGET', KEYS[4], k)
  if v and string.sub(v, 1, 2) == 's:' then
    local code = string.sub(v, 3, 3)
    local id = redis.call('XADD', KEYS[LANE[code]], '*', 'j', string.sub(v, 5))
    redis.call('HSET', KEYS[4], k, code .. ':' .. id)
  end
end

local out, dry, total = {{}, {}, {}, {}, {}, {}}, {0, 0, 0}, 0
local function readLane(i, count)
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', KEYS[STREAMS[i]], '>')
  local entries, o = (r and r[1][2]) or {}, out[i]
  for _, e in ipairs(entries) do
    o[#o + 1] = e[1]
    o[#o + 1] = e[2][2]
  end
  return #entries
end
local function read(p, count)
  local n = readLane(p, count)
  if n < count then n = n + readLane(p + 3, count - n) end
  total = total + n
  if n < count then dry[p] = 1 end
  return n
end
local missing = 0
for p = 1, 3 do
  local want = tonumber(ARGV[4 + p]) + missing
  if want > 0 then missing = want - read(p, want) end
end
for p = 1, 3 do
  if missing > 0 and dry[p] == 0 then missing = missing - read(p, missing) end
end

local nextdue, last = -1, {'', '', '', '', '', ''}
if total == 0 then
  local d = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if d[2] then nextdue = tonumber(d[2]) end
  for i = 1, 6 do
    local info = redis.call('XINFO', 'STREAM', KEYS[STREAMS[i]])
    for j = 1, #info, 2 do
      if info[j] == 'last-generated-id' then last[i] = info[j + 1] end
    end
  end
end
return {out[1], out[2], out[3], out[4], out[5], out[6], dry, now, nextdue, last}
`)

// ackScript ends deliveries for good: XACK and XDEL together, so acked
// entries never pile up in the streams, and a job key is released (and its
// owner's count lowered) only if it still names the delivery being acked.
// Each stream command takes the whole batch, so a batch of any size costs a
// handful of commands.
// ARGV: group; how many entries of each of the six lanes; their ids, lane
// by lane; then the n job keys; then their n receipts; then their n owners.
var ackScript = redis.NewScript(luaLanes + `
local at = 8
for i = 1, 6 do
  local n = tonumber(ARGV[1 + i])
  if n > 0 then
    local key = KEYS[STREAMS[i]]
    redis.call('XACK', key, ARGV[1], unpack(ARGV, at, at + n - 1))
    redis.call('XDEL', key, unpack(ARGV, at, at + n - 1))
    at = at + n
  end
end
local n = (#ARGV - at + 1) / 3
if n == 0 then return 1 end
local cur, done, gone = redis.call('HMGET', KEYS[4], unpack(ARGV, at, at + n - 1)), {}, {}
for j = 1, n do
  local k, owner = ARGV[at + j - 1], ARGV[at + 2 * n + j - 1]
  if cur[j] == ARGV[at + n + j - 1] and not done[k] then
    done[k] = true
    gone[owner] = (gone[owner] or 0) + 1
  end
end
local keys = {}
for k in pairs(done) do keys[#keys + 1] = k end
if #keys == 0 then return 1 end
redis.call('HDEL', KEYS[4], unpack(keys))
for owner, k in pairs(gone) do release(owner, k) end
return 1
`)

// settle ends the delivery named by receipt r of job key k if it is current.
// With an empty receipt it succeeds only when k is not outstanding. It
// leaves the owner's count alone: the caller says whether the job stays
// outstanding (a retry) or is gone (a dead letter).
const luaSettle = `
local function settle(group, r, k)
  if r == '' then
    return redis.call('HEXISTS', KEYS[4], k) == 0
  end
  if redis.call('HGET', KEYS[4], k) ~= r then return false end
  local i = LANE[string.sub(r, 1, 1)]
  local id = string.sub(r, 3)
  redis.call('XACK', KEYS[i], group, id)
  redis.call('XDEL', KEYS[i], id)
  redis.call('HDEL', KEYS[4], k)
  return true
end
`

// retryScript ends the current delivery and schedules the job (as the
// caller rewrote it) after a delay; a zero delay puts it straight back. A
// retried job stays outstanding, so its owner's count is unchanged; one
// retried without a receipt (built outside the queue) is new, and counted.
// It goes to the normal or overflow lane by its owner's count now.
// ARGV: group, receipt, job key, priority letter, payload, delay ms, owner,
// fair share. Returns 1 when scheduled, 0 for a stale receipt or a
// duplicate.
var retryScript = redis.NewScript(luaLanes + luaSettle + `
if not settle(ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local code
if ARGV[2] == '' then
  code = admit(ARGV[4], ARGV[7], ARGV[8])
else
  code = place(ARGV[4], held(ARGV[7]), ARGV[8])
end
local delay = tonumber(ARGV[6])
if delay <= 0 then
  local id = redis.call('XADD', KEYS[LANE[code]], '*', 'j', ARGV[5])
  redis.call('HSET', KEYS[4], ARGV[3], code .. ':' .. id)
else
  redis.call('HSET', KEYS[4], ARGV[3], 's:' .. code .. ':' .. ARGV[5])
  redis.call('ZADD', KEYS[5], nowms() + delay, ARGV[3])
end
return 1
`)

// deadScript ends the current delivery and appends a dead letter. With an
// empty receipt it only appends; with force it drops the named entry
// whatever the jobs hash says (for undecodable entries, whose key and
// owner are unknown).
// ARGV: group, receipt, job key, payload, reason, max dead letters (0 =
// unbounded), force, owner. Returns the dead letter id, or "" for a stale
// receipt.
var deadScript = redis.NewScript(luaLanes + luaSettle + `
local r = ARGV[2]
if ARGV[7] == '1' then
  local i = LANE[string.sub(r, 1, 1)]
  redis.call('XACK', KEYS[i], ARGV[1], string.sub(r, 3))
  redis.call('XDEL', KEYS[i], string.sub(r, 3))
elseif r ~= '' then
  if not settle(ARGV[1], r, ARGV[3]) then return '' end
  release(ARGV[8], 1)
end
local max = tonumber(ARGV[6])
if max > 0 then
  return redis.call('XADD', KEYS[6], 'MAXLEN', '~', max, '*', 'j', ARGV[4], 'reason', ARGV[5])
end
return redis.call('XADD', KEYS[6], '*', 'j', ARGV[4], 'reason', ARGV[5])
`)

// redriveScript moves dead letters back into their streams. A dead letter
// another operator already moved is skipped; one whose job key is
// outstanding again is dropped, since that job will run anyway.
// ARGV: fair share, then (dead letter id, priority letter, job key,
// payload, owner) quintuples. Returns how many dead letters it removed.
var redriveScript = redis.NewScript(luaLanes + `
local n = 0
for j = 2, #ARGV - 4, 5 do
  if redis.call('XDEL', KEYS[6], ARGV[j]) == 1 then
    n = n + 1
    local k = ARGV[j + 2]
    if redis.call('HSETNX', KEYS[4], k, '') == 1 then
      local code = admit(ARGV[j + 1], ARGV[j + 4], ARGV[1])
      local id = redis.call('XADD', KEYS[LANE[code]], '*', 'j', ARGV[j + 3])
      redis.call('HSET', KEYS[4], k, code .. ':' .. id)
    end
  end
end
return n
`)

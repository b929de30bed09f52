package redisq

import "github.com/redis/go-redis/v9"

// The Lua scripts below are the queue's state machine. Each runs atomically
// on the one node that owns the queue's hash tag, so a job's dedupe entry and
// its stream entry never disagree, and each operation is one round trip.
//
// Every script gets the same KEYS, in this order:
//
//	KEYS[1..3]  the high, default and low streams
//	KEYS[4]     the jobs hash: job key -> receipt ("h:<entry id>") while the
//	            job is in a stream, or "s:<lane>:<payload>" while it waits out
//	            a retry delay. A key in this hash is "outstanding".
//	KEYS[5]     the retry sorted set: job key scored by due time (ms)
//	KEYS[6]     the dead-letter stream
//
// Lanes are named by one letter (h, d, l) inside receipts and hash values.
// No key ever gets a TTL: ElastiCache Serverless evicts keys with TTLs.

// luaLanes is shared by every script: lane letter <-> KEYS index.
const luaLanes = `
local LANE = {h = 1, d = 2, l = 3}
local CODE = {'h', 'd', 'l'}
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// enqueueScript adds a job unless its key is outstanding.
// ARGV: lane, job key, payload. Returns 1 when added, 0 when a duplicate.
var enqueueScript = redis.NewScript(luaLanes + `
local i = LANE[ARGV[1]]
if redis.call('HSETNX', KEYS[4], ARGV[2], '') == 0 then return 0 end
local id = redis.call('XADD', KEYS[i], '*', 'j', ARGV[3])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[1] .. ':' .. id)
return 1
`)

// takeScript moves due retries into their streams, then reads new entries
// for one consumer: each lane up to the count the caller planned for it
// (Queue.plan) plus whatever the lanes above it lacked, high first; what is
// still missing after the low lane comes from any lane that did not run
// dry. When nothing was delivered it also says when to look again: the next
// retry's due time and each stream's last id, read in the same atomic step
// so an entry added after it wakes the caller's XREAD.
//
// ARGV: group, consumer, count for high, default, low.
// Returns {high's, default's and low's entries (each a flat id, payload
// list), ran dry (0|1 per lane), now ms, next due ms or -1, last ids h d l}.
var takeScript = redis.NewScript(luaLanes + `
local group, consumer = ARGV[1], ARGV[2]
local now = nowms()
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[5], k)
  local v = redis.call('HGET', KEYS[4], k)
  if v and string.sub(v, 1, 2) == 's:' then
    local code = string.sub(v, 3, 3)
    local id = redis.call('XADD', KEYS[LANE[code]], '*', 'j', string.sub(v, 5))
    redis.call('HSET', KEYS[4], k, code .. ':' .. id)
  end
end

local out, dry, total = {{}, {}, {}}, {0, 0, 0}, 0
local function read(i, count)
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', KEYS[i], '>')
  local entries, o = (r and r[1][2]) or {}, out[i]
  for _, e in ipairs(entries) do
    o[#o + 1] = e[1]
    o[#o + 1] = e[2][2]
  end
  total = total + #entries
  if #entries < count then dry[i] = 1 end
  return #entries
end
local missing = 0
for i = 1, 3 do
  local want = tonumber(ARGV[2 + i]) + missing
  if want > 0 then missing = want - read(i, want) end
end
for i = 1, 3 do
  if missing > 0 and dry[i] == 0 then missing = missing - read(i, missing) end
end

local nextdue, last = -1, {'', '', ''}
if total == 0 then
  local d = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if d[2] then nextdue = tonumber(d[2]) end
  for i = 1, 3 do
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for j = 1, #info, 2 do
      if info[j] == 'last-generated-id' then last[i] = info[j + 1] end
    end
  end
end
return {out[1], out[2], out[3], dry, now, nextdue, last}
`)

// ackScript ends deliveries for good: XACK and XDEL together, so acked
// entries never pile up in the streams, and a job key is released only if
// it still names the delivery being acked. Each command takes the whole
// batch, so a batch of any size costs a handful of commands.
// ARGV: group; how many entries of the high, default and low lanes; their
// ids, lane by lane; then the n job keys; then their n receipts.
var ackScript = redis.NewScript(`
local at = 5
for i = 1, 3 do
  local n = tonumber(ARGV[1 + i])
  if n > 0 then
    redis.call('XACK', KEYS[i], ARGV[1], unpack(ARGV, at, at + n - 1))
    redis.call('XDEL', KEYS[i], unpack(ARGV, at, at + n - 1))
    at = at + n
  end
end
local n = (#ARGV - at + 1) / 2
local cur, done = redis.call('HMGET', KEYS[4], unpack(ARGV, at, at + n - 1)), {}
for j = 1, n do
  if cur[j] == ARGV[at + n + j - 1] then done[#done + 1] = ARGV[at + j - 1] end
end
if #done > 0 then redis.call('HDEL', KEYS[4], unpack(done)) end
return 1
`)

// settle ends the delivery named by receipt r of job key k if it is current.
// With an empty receipt it succeeds only when k is not outstanding.
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
// caller rewrote it) after a delay; a zero delay puts it straight back.
// ARGV: group, receipt, job key, lane, payload, delay ms.
// Returns 1 when scheduled, 0 for a stale receipt or a duplicate.
var retryScript = redis.NewScript(luaLanes + luaSettle + `
if not settle(ARGV[1], ARGV[2], ARGV[3]) then return 0 end
local delay = tonumber(ARGV[6])
if delay <= 0 then
  local id = redis.call('XADD', KEYS[LANE[ARGV[4]]], '*', 'j', ARGV[5])
  redis.call('HSET', KEYS[4], ARGV[3], ARGV[4] .. ':' .. id)
else
  redis.call('HSET', KEYS[4], ARGV[3], 's:' .. ARGV[4] .. ':' .. ARGV[5])
  redis.call('ZADD', KEYS[5], nowms() + delay, ARGV[3])
end
return 1
`)

// deadScript ends the current delivery and appends a dead letter. With an
// empty receipt it only appends; with force it drops the named entry
// whatever the jobs hash says (for undecodable entries).
// ARGV: group, receipt, job key, payload, reason, max dead letters (0 =
// unbounded), force. Returns the dead letter id, or "" for a stale receipt.
var deadScript = redis.NewScript(luaLanes + luaSettle + `
local r = ARGV[2]
if ARGV[7] == '1' then
  local i = LANE[string.sub(r, 1, 1)]
  redis.call('XACK', KEYS[i], ARGV[1], string.sub(r, 3))
  redis.call('XDEL', KEYS[i], string.sub(r, 3))
elseif r ~= '' and not settle(ARGV[1], r, ARGV[3]) then
  return ''
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
// ARGV: (dead letter id, lane, job key, payload) quads. Returns how many
// dead letters it removed.
var redriveScript = redis.NewScript(luaLanes + `
local n = 0
for j = 1, #ARGV - 3, 4 do
  if redis.call('XDEL', KEYS[6], ARGV[j]) == 1 then
    n = n + 1
    local code, k = ARGV[j + 1], ARGV[j + 2]
    if redis.call('HSETNX', KEYS[4], k, '') == 1 then
      local id = redis.call('XADD', KEYS[LANE[code]], '*', 'j', ARGV[j + 3])
      redis.call('HSET', KEYS[4], k, code .. ':' .. id)
    end
  end
end
return n
`)

// pruneScript deletes consumers with nothing pending, idle at least the
// given ms. ARGV: group, min idle ms. Returns how many it deleted.
var pruneScript = redis.NewScript(luaLanes + `
local n = 0
for i = 1, 3 do
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[i], ARGV[1])) do
    local f = {}
    for j = 1, #c - 1, 2 do f[c[j]] = c[j + 1] end
    if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], f['name'])
      n = n + 1
    end
  end
end
return n
`)

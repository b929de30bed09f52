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

// takeScript delivers up to n jobs to one consumer: it first moves due
// retries into their streams, then resumes the consumer's own pending
// entries (after a restart), then reclaims entries idle past the visibility
// timeout from dead consumers, then reads new entries by weighted credit
// round robin.
//
// ARGV: group, consumer, n, credits h d l, weights h d l, resume cursors
// h d l ("" when done), reclaim min idle ms (0 to skip), reclaim cursors
// h d l, promote limit.
//
// Returns {entries (flat receipt, payload pairs), credits, resume cursors,
// reclaim cursors, now ms, next due ms or -1, last ids h d l}. The last two
// are only filled when nothing was delivered, for the caller's wait.
var takeScript = redis.NewScript(luaLanes + `
local group, consumer = ARGV[1], ARGV[2]
local need = tonumber(ARGV[3])
local credits = {tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])}
local weights = {tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])}
local resume = {ARGV[10], ARGV[11], ARGV[12]}
local idle = tonumber(ARGV[13])
local reclaim = {ARGV[14], ARGV[15], ARGV[16]}
local limit = tonumber(ARGV[17])
local now = nowms()
local out = {}

-- Due retries join the back of their stream.
local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, limit)
for _, k in ipairs(due) do
  redis.call('ZREM', KEYS[5], k)
  local v = redis.call('HGET', KEYS[4], k)
  if v and string.sub(v, 1, 2) == 's:' then
    local code = string.sub(v, 3, 3)
    local id = redis.call('XADD', KEYS[LANE[code]], '*', 'j', string.sub(v, 5))
    redis.call('HSET', KEYS[4], k, code .. ':' .. id)
  end
end

-- add appends delivered entries; an entry deleted while pending (a late
-- duplicate ack) is dropped from the group instead.
local function add(i, entries)
  local n = 0
  for _, e in ipairs(entries) do
    if e[2] and e[2][2] then
      out[#out + 1] = CODE[i] .. ':' .. e[1]
      out[#out + 1] = e[2][2]
      n = n + 1
    else
      redis.call('XACK', KEYS[i], group, e[1])
    end
  end
  return n
end

-- A restarted consumer first takes back what it held when it died.
for i = 1, 3 do
  if resume[i] ~= '' and need > 0 then
    local asked = need
    local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', asked, 'STREAMS', KEYS[i], resume[i])
    local entries = (r and r[1][2]) or {}
    need = need - add(i, entries)
    if #entries < asked then
      resume[i] = ''
    else
      resume[i] = entries[#entries][1]
    end
  end
end

-- Entries a dead consumer held past the visibility timeout.
if idle > 0 then
  for i = 1, 3 do
    if need > 0 then
      local r = redis.call('XAUTOCLAIM', KEYS[i], group, consumer, idle, reclaim[i], 'COUNT', need)
      reclaim[i] = r[1]
      need = need - add(i, r[2])
    end
  end
end

-- New entries: serve the highest lane that has credit and work; when no
-- such lane is left, start a new round. A lane found empty stays skipped
-- for the rest of this call, and the only lane with work takes all.
local empty = {false, false, false}
while need > 0 do
  local lane = nil
  for i = 1, 3 do
    if credits[i] > 0 and not empty[i] then lane = i; break end
  end
  if lane == nil then
    if empty[1] and empty[2] and empty[3] then break end
    credits = {weights[1], weights[2], weights[3]}
  else
    local others = 0
    for i = 1, 3 do
      if i ~= lane and not empty[i] then others = others + 1 end
    end
    local take = need
    if others > 0 then take = math.min(need, credits[lane]) end
    local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', take, 'STREAMS', KEYS[lane], '>')
    local entries = (r and r[1][2]) or {}
    local got = add(lane, entries)
    credits[lane] = math.max(credits[lane] - #entries, 0)
    need = need - got
    if #entries < take then empty[lane] = true end
  end
end

local nextdue, last = -1, {'', '', ''}
if #out == 0 then
  local d = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if d[2] then nextdue = tonumber(d[2]) end
  for i = 1, 3 do
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    for j = 1, #info, 2 do
      if info[j] == 'last-generated-id' then last[i] = info[j + 1] end
    end
  end
end
return {out, credits, resume, reclaim, now, nextdue, last}
`)

// ackScript ends deliveries for good: XACK and XDEL together, so acked
// entries never pile up in the streams, and the job key is released only if
// it still names this delivery.
// ARGV: group, then (receipt, job key) pairs.
var ackScript = redis.NewScript(luaLanes + `
for j = 2, #ARGV - 1, 2 do
  local r, k = ARGV[j], ARGV[j + 1]
  local i = LANE[string.sub(r, 1, 1)]
  if i and string.sub(r, 2, 2) == ':' then
    local id = string.sub(r, 3)
    redis.call('XACK', KEYS[i], ARGV[1], id)
    redis.call('XDEL', KEYS[i], id)
    if redis.call('HGET', KEYS[4], k) == r then redis.call('HDEL', KEYS[4], k) end
  end
end
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

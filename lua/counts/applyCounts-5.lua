--[[
  Group btc-minute-counts: adds the transactions of one stretch of a partition to the count and
  value of their event minute and event hour, each transaction once by hash, and moves the
  group's position for the partition past them, all in one atomic call.

  A hash the group has seen (in the seen set, or earlier in the call) changes nothing, whatever
  time it carries. A transaction whose hour bucket would already have expired is stale: not
  applied. One whose minute bucket would already have expired (a replay of an older hour)
  counts in its hour only.

  All or nothing: every check (arguments, the types of the keys, the bounds) comes before the
  first write. A value above 21 million BTC, or a bucket whose count or value would reach
  EXACT_INT64 (includes/bounds.lua; HINCRBY is exact within int64), refuses the whole call with
  OUT_OF_RANGE: the consumer then applies its records one by one and dead-letters the one that
  does not fit (src/consumers/refusals.ts); the bucket keeps what it had. A key of another type
  than its own refuses the call with {"wrong_type", key}.

  KEYS[1..2] are prefixes: a call touches minutes and hours not known in advance. The full
  names are the prefix plus the suffix shown (the projection's keys.ts, src/projections/<name>/), with the same {hash tag}.
    KEYS[1] minute prefix  .. minute start (unix s)   HASH {count, value}, expires
    KEYS[2] hour prefix    .. hour start (unix s)     HASH {count, value}, expires
    KEYS[3] seen, KEYS[4] position, KEYS[5] version, ARGV[1..4] now, position field, from, to:
    as in every apply script (includes/applyArgs.lua)
    ARGV[5] seconds a minute bucket lives after its minute starts
    ARGV[6] seconds an hour bucket lives after its hour starts
    ARGV[7] seconds a hash is remembered after its first copy arrived
    ARGV[8..] 3 fields per transaction: hash, time (unix s), value (satoshi)

  An applied call sets the version (includes/bumpVersion.lua); a refused one writes nothing.

  Returns {"applied", applied, duplicates, stale}, {"moved", position} or {"unset"}
  (includes/checkPosition.lua), {"wrong_type", key}, or an error code (includes/scriptError.lua):
    -1 BAD_RECORDS   the records do not divide into whole records of 3 fields
    -2 NOT_A_NUMBER  now or a setting (ARGV[1], ARGV[5..7])
    -3 NOT_A_COUNT   a time or a value
    -4 OUT_OF_RANGE  a value above 21 million BTC, or a bucket sum that would leave int64
]]
--- @include "scriptError"
--- @include "bounds"
--- @include "applyArgs"
--- @include "wrongType"
--- @include "checkPosition"
--- @include "isCount"
--- @include "recordStarts"
--- @include "dedupeRecords"
--- @include "rememberSeen"
--- @include "extendExpiries"
--- @include "bumpVersion"

local minutePrefix = KEYS[1]
local hourPrefix = KEYS[2]
local now, field, from, to, seenKey, positionKey, versionKey = applyArgs()
local minuteKeep = tonumber(ARGV[5])
local hourKeep = tonumber(ARGV[6])
local seenKeep = tonumber(ARGV[7])
local FIRST, FIELDS = 8, 3
local B = bounds()

if not (now and minuteKeep and hourKeep and seenKeep) then return scriptError("NOT_A_NUMBER") end
local starts = recordStarts(FIRST, FIELDS)
if not starts then return scriptError("BAD_RECORDS") end
for _, s in ipairs(starts) do
  if not (isCount(ARGV[s + 1]) and isCount(ARGV[s + 2])) then return scriptError("NOT_A_COUNT") end
end
for _, s in ipairs(starts) do
  if tonumber(ARGV[s + 2]) > B.MAX_SATOSHI then return scriptError("OUT_OF_RANGE") end
end
local wrong = wrongType({ { positionKey, "hash" }, { seenKey, "zset" }, { versionKey, "string" } })
if wrong then return { "wrong_type", wrong } end
local refused = checkPosition(positionKey, field, from)
if refused then return refused end

-- A transaction whose hour bucket has expired is stale.
local function expired(time) return time - time % 3600 + hourKeep <= now end
local fresh, times, duplicates, stale, newHashes = dedupeRecords(seenKey, starts, expired, now - seenKeep)

-- Sums per bucket, each value sum kept in parts below 2^53 (exact in a Lua number), one
-- HINCRBY a part.
local sums, ttls, order = {}, {}, {}
local function add(key, value, ttl)
  local sum = sums[key]
  if sum == nil then
    sum = { count = 0, parts = { 0 }, total = 0 }
    sums[key] = sum
    ttls[key] = ttl
    order[#order + 1] = key
  end
  if sum.parts[#sum.parts] + value >= B.EXACT_DOUBLE then sum.parts[#sum.parts + 1] = 0 end
  sum.parts[#sum.parts] = sum.parts[#sum.parts] + value
  sum.count = sum.count + 1
  sum.total = sum.total + value
end

for n, s in ipairs(fresh) do
  local time, value = times[n], tonumber(ARGV[s + 2])
  local minute, hour = time - time % 60, time - time % 3600
  if minute + minuteKeep > now then add(minutePrefix .. minute, value, minute + minuteKeep - now) end
  add(hourPrefix .. hour, value, hour + hourKeep - now)
end

-- Every bucket the call writes: a hash, and its sums stay within int64 after the call.
local typed = {}
for _, key in ipairs(order) do typed[#typed + 1] = { key, "hash" } end
wrong = wrongType(typed)
if wrong then return { "wrong_type", wrong } end
for _, key in ipairs(order) do
  local current = redis.call("HMGET", key, "count", "value")
  local sum = sums[key]
  if (tonumber(current[1]) or 0) + sum.count >= B.EXACT_INT64 or (tonumber(current[2]) or 0) + sum.total >= B.EXACT_INT64 then
    return scriptError("OUT_OF_RANGE")
  end
end

-- Every check passed: the writes.
rememberSeen(seenKey, newHashes, now, now - seenKeep)
for _, key in ipairs(order) do
  local sum = sums[key]
  redis.call("HINCRBY", key, "count", sum.count)
  for _, part in ipairs(sum.parts) do redis.call("HINCRBY", key, "value", part) end
end
extendExpiries(ttls)
if field ~= "" then redis.call("HSET", positionKey, field, to) end
bumpVersion(versionKey)
return { "applied", #fresh, duplicates, stale }

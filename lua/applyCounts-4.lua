--[[
  Group btc-minute-counts: adds the transactions of one stretch of a partition to the count and
  value of their event minute and event hour, each transaction once by hash, and moves the
  group's position for the partition past them, all in one atomic call.

  A hash the group has seen (in the seen set, or earlier in the call) changes nothing, whatever
  time it carries. A transaction whose hour bucket would already have expired is stale: not
  applied. One whose minute bucket would already have expired (a replay of an older hour)
  counts in its hour only.

  KEYS[1..2] are prefixes: a call touches minutes and hours not known in advance. The full
  names are the prefix plus the suffix shown (src/redis/keys.ts), with the same {hash tag}.
    KEYS[1] minute prefix  .. minute start (unix s)   HASH {count, value}, expires
    KEYS[2] hour prefix    .. hour start (unix s)     HASH {count, value}, expires
    KEYS[3] seen                                      ZSET transaction hash -> event time
    KEYS[4] position                                  HASH "<topic>:<partition>" -> next offset

    ARGV[1] now, unix seconds; "" for Redis's clock (includes/clock.lua)
    ARGV[2] position field "<topic>:<partition>"; "" to apply without a position (tests)
    ARGV[3] from: the partition offset the call starts at (the position it expects)
    ARGV[4] to: the position after the call
    ARGV[5] seconds a minute bucket lives after its minute starts
    ARGV[6] seconds an hour bucket lives after its hour starts (also how long hashes are remembered)
    ARGV[7..] 3 fields per transaction: hash, time (unix s), value (satoshi)

  Returns {"applied", applied, duplicates, stale}, {"moved", position} or {"unset"}
  (includes/checkPosition.lua), or an error code (SCRIPT_ERRORS in src/redis/scripts.ts):
    -1 the records do not divide into whole records of 3 fields
    -2 now or a setting is not a number
    -3 a time or value is not a non-negative integer
]]
--- @include "clock"
--- @include "checkPosition"
--- @include "isCount"
--- @include "markSeen"
--- @include "extendExpiries"

local minutePrefix = KEYS[1]
local hourPrefix = KEYS[2]
local seenKey = KEYS[3]
local positionKey = KEYS[4]

local field, from, to = ARGV[2], ARGV[3], ARGV[4]
local minuteKeep = tonumber(ARGV[5])
local hourKeep = tonumber(ARGV[6])
local FIRST, FIELDS = 7, 3

local now = clock(ARGV[1])
if not (now and minuteKeep and hourKeep) then return -2 end
if (#ARGV - FIRST + 1) % FIELDS ~= 0 then return -1 end
for i = FIRST, #ARGV, FIELDS do
  if not (isCount(ARGV[i + 1]) and isCount(ARGV[i + 2])) then return -3 end
end
local refused = checkPosition(positionKey, field, from)
if refused then return refused end

-- In-time transactions are dedupe candidates; the others are stale.
local hashes, times, at = {}, {}, {}
local stale = 0
for i = FIRST, #ARGV, FIELDS do
  local time = tonumber(ARGV[i + 1])
  if time - time % 3600 + hourKeep <= now then
    stale = stale + 1
  else
    hashes[#hashes + 1], times[#times + 1], at[#at + 1] = ARGV[i], time, i
  end
end
redis.call("ZREMRANGEBYSCORE", seenKey, "-inf", "(" .. (now - hourKeep))
local fresh = markSeen(seenKey, hashes, times)

-- Sums per bucket, written once per bucket; flushed early before a sum could leave the exact
-- range of a double (2^53).
local EXACT = 9007199254740992
local sums, ttls = {}, {}
local function add(key, value, ttl)
  local sum = sums[key]
  if sum == nil then
    sum = { count = 0, value = 0 }
    sums[key] = sum
    ttls[key] = ttl
  end
  if sum.value + value >= EXACT then
    redis.call("HINCRBY", key, "value", sum.value)
    sum.value = 0
  end
  sum.count = sum.count + 1
  sum.value = sum.value + value
end

local applied, duplicates = 0, 0
for n = 1, #hashes do
  if fresh[n] then
    applied = applied + 1
    local time, value = times[n], tonumber(ARGV[at[n] + 2])
    local minute, hour = time - time % 60, time - time % 3600
    if minute + minuteKeep > now then add(minutePrefix .. minute, value, minute + minuteKeep - now) end
    add(hourPrefix .. hour, value, hour + hourKeep - now)
  else
    duplicates = duplicates + 1
  end
end

for key, sum in pairs(sums) do
  redis.call("HINCRBY", key, "count", sum.count)
  redis.call("HINCRBY", key, "value", sum.value)
end
extendExpiries(ttls)
if field ~= "" then redis.call("HSET", positionKey, field, to) end
return { "applied", applied, duplicates, stale }

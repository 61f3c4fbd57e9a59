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
    KEYS[3] seen, KEYS[4] position, ARGV[1..4] now, position field, from, to: as in every
    apply script (includes/applyArgs.lua)
    ARGV[5] seconds a minute bucket lives after its minute starts
    ARGV[6] seconds an hour bucket lives after its hour starts (also how long hashes are remembered)
    ARGV[7..] 3 fields per transaction: hash, time (unix s), value (satoshi)

  Returns {"applied", applied, duplicates, stale}, {"moved", position} or {"unset"}
  (includes/checkPosition.lua), or an error code (includes/scriptError.lua):
    -1 BAD_RECORDS   the records do not divide into whole records of 3 fields
    -2 NOT_A_NUMBER  now or a setting (ARGV[1], ARGV[5..6])
    -3 NOT_A_COUNT   a time or a value
]]
--- @include "scriptError"
--- @include "applyArgs"
--- @include "checkPosition"
--- @include "isCount"
--- @include "recordStarts"
--- @include "dedupeRecords"
--- @include "extendExpiries"

local minutePrefix = KEYS[1]
local hourPrefix = KEYS[2]
local now, field, from, to, seenKey, positionKey = applyArgs()
local minuteKeep = tonumber(ARGV[5])
local hourKeep = tonumber(ARGV[6])
local FIRST, FIELDS = 7, 3

if not (now and minuteKeep and hourKeep) then return scriptError("NOT_A_NUMBER") end
local starts = recordStarts(FIRST, FIELDS)
if not starts then return scriptError("BAD_RECORDS") end
for _, s in ipairs(starts) do
  if not (isCount(ARGV[s + 1]) and isCount(ARGV[s + 2])) then return scriptError("NOT_A_COUNT") end
end
local refused = checkPosition(positionKey, field, from)
if refused then return refused end

-- A transaction whose hour bucket has expired is stale; the group remembers hashes as long.
local function expired(time) return time - time % 3600 + hourKeep <= now end
local fresh, times, duplicates, stale = dedupeRecords(seenKey, starts, expired, now - hourKeep)

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

for n, s in ipairs(fresh) do
  local time, value = times[n], tonumber(ARGV[s + 2])
  local minute, hour = time - time % 60, time - time % 3600
  if minute + minuteKeep > now then add(minutePrefix .. minute, value, minute + minuteKeep - now) end
  add(hourPrefix .. hour, value, hour + hourKeep - now)
end

for key, sum in pairs(sums) do
  redis.call("HINCRBY", key, "count", sum.count)
  redis.call("HINCRBY", key, "value", sum.value)
end
extendExpiries(ttls)
if field ~= "" then redis.call("HSET", positionKey, field, to) end
return { "applied", #fresh, duplicates, stale }

--[[
  Group btc-minute-counts: adds a batch of transactions to the count and value of their event
  minute and event hour, each transaction once.

  A transaction whose fingerprint is already in the group's dedupe set for its minute (or earlier
  in the same batch) changes nothing (a redelivery, a producer retry, a second producer); one whose minute is before the
  window start is not applied (stale: the dedupe memory does not reach that far back).
  Everything a transaction does happens in this one call, so a crash leaves it applied or not.

  KEYS are prefixes, not keys: a batch touches minutes, hours and dedupe buckets not known in
  advance, and a script has a fixed number of keys. The full names are the prefix plus the
  suffix shown (src/redis/keys.ts); they share the prefix's {hash tag}.
    KEYS[1] minute bucket prefix   .. minute start (unix s)             HASH {count, value}
    KEYS[2] hour bucket prefix     .. hour start (unix s)               HASH {count, value}
    KEYS[3] dedupe prefix          .. minute start .. ":" .. bucket     SET of fingerprints

    ARGV[1] now, unix seconds
    ARGV[2] window length, minutes
    ARGV[3] seconds a minute bucket lives after its minute starts
    ARGV[4] seconds an hour bucket lives after its hour starts
    ARGV[5] seconds the dedupe set of a minute outlives the window
    ARGV[6..] 4 fields per transaction: time (unix s), dedupe bucket, fingerprint, value (satoshi)

  Returns {applied, duplicates, stale}, or a negative error code (src/redis/scripts.ts):
    -1 the records do not divide into whole records of 4 fields
    -2 now or a setting is not a number
    -3 a time or value is not a non-negative integer
]]
--- @include "windowStart"
--- @include "markSeenBatch"
--- @include "extendExpiries"

local minutePrefix = KEYS[1]
local hourPrefix = KEYS[2]
local seenPrefix = KEYS[3]

local now = tonumber(ARGV[1])
local windowMinutes = tonumber(ARGV[2])
local minuteKeep = tonumber(ARGV[3])
local hourKeep = tonumber(ARGV[4])
local seenMargin = tonumber(ARGV[5])
local FIRST, FIELDS = 6, 4

if not (now and windowMinutes and minuteKeep and hourKeep and seenMargin) then return -2 end
if (#ARGV - FIRST + 1) % FIELDS ~= 0 then return -1 end
for i = FIRST, #ARGV, FIELDS do
  local time, value = tonumber(ARGV[i]), tonumber(ARGV[i + 3])
  if not time or time < 0 or time % 1 ~= 0 or not value or value < 0 or value % 1 ~= 0 then return -3 end
end

local start = windowStart(now, windowMinutes)
local windowSeconds = windowMinutes * 60
-- Sums per bucket, written once per bucket; flushed early before a sum could leave the exact
-- range of a double (2^53).
local EXACT = 9007199254740992
local sums = {}
local ttls = {}
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

-- In-window transactions are dedupe candidates; the others are stale.
local minutes, buckets, fps, at = {}, {}, {}, {}
local stale = 0
for i = FIRST, #ARGV, FIELDS do
  local time = tonumber(ARGV[i])
  local minute = time - time % 60
  if minute < start then
    stale = stale + 1
  else
    local n = #fps + 1
    minutes[n], buckets[n], fps[n], at[n] = minute, ARGV[i + 1], ARGV[i + 2], i
  end
end
local fresh = markSeenBatch(seenPrefix, minutes, buckets, fps, windowSeconds + seenMargin, now, ttls)

local applied, duplicates = 0, 0
for n = 1, #fps do
  if fresh[n] then
    applied = applied + 1
    local i = at[n]
    local time, value = tonumber(ARGV[i]), tonumber(ARGV[i + 3])
    local minute, hour = minutes[n], time - time % 3600
    add(minutePrefix .. minute, value, minute + minuteKeep - now)
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
return { applied, duplicates, stale }

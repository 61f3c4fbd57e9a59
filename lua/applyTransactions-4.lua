--[[
  Group btc-transactions: stores the transactions of one stretch of a partition, each once by
  hash, for the 3-hour window and within the cap, and moves the group's position for the
  partition past them, all in one atomic call.

  A transaction is stored as its JSON body (what the API serves) under its hash, and indexed by
  event time in a sorted set. A hash the group has seen changes nothing; a transaction whose
  minute is before the window start is stale. Then the oldest are dropped: those before the
  window start, and beyond the cap (includes/trimStored.lua).

  KEYS[2] is a prefix: the full name of a body is the prefix plus the hash (src/redis/keys.ts).
    KEYS[1] by time                  ZSET transaction hash -> event time (unix s)
    KEYS[2] body prefix .. hash      STRING the transaction's JSON, expires
    KEYS[3] seen                     ZSET transaction hash -> event time
    KEYS[4] position                 HASH "<topic>:<partition>" -> next offset

    ARGV[1] now, unix seconds; "" for Redis's clock
    ARGV[2] position field; "" to apply without a position (tests)
    ARGV[3] from: the offset the call starts at (the position it expects)
    ARGV[4] to: the position after the call
    ARGV[5] window length, minutes
    ARGV[6] cap: most transactions stored
    ARGV[7] seconds hashes are remembered, and bodies live, past the window start
    ARGV[8] most transactions dropped in this call
    ARGV[9..] 3 fields per transaction: hash, time (unix s), JSON body

  Returns {"applied", applied, duplicates, stale, removed by the window, removed by the cap,
  stored}, {"moved", position} or {"unset"}, or an error code:
    -1 the records do not divide into whole records of 3 fields
    -2 now or a setting is not a number
    -3 a time is not a non-negative integer
]]
--- @include "clock"
--- @include "checkPosition"
--- @include "isCount"
--- @include "markSeen"
--- @include "windowStart"
--- @include "trimStored"

local byTimeKey = KEYS[1]
local bodyPrefix = KEYS[2]
local seenKey = KEYS[3]
local positionKey = KEYS[4]

local field, from, to = ARGV[2], ARGV[3], ARGV[4]
local windowMinutes = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local margin = tonumber(ARGV[7])
local budget = tonumber(ARGV[8])
local FIRST, FIELDS = 9, 3

local now = clock(ARGV[1])
if not (now and windowMinutes and cap and margin and budget) then return -2 end
if (#ARGV - FIRST + 1) % FIELDS ~= 0 then return -1 end
for i = FIRST, #ARGV, FIELDS do
  if not isCount(ARGV[i + 1]) then return -3 end
end
local refused = checkPosition(positionKey, field, from)
if refused then return refused end
local start = windowStart(now, windowMinutes)

local hashes, times, at = {}, {}, {}
local stale = 0
for i = FIRST, #ARGV, FIELDS do
  local time = tonumber(ARGV[i + 1])
  if time - time % 60 < start then
    stale = stale + 1
  else
    hashes[#hashes + 1], times[#times + 1], at[#at + 1] = ARGV[i], time, i
  end
end
redis.call("ZREMRANGEBYSCORE", seenKey, "-inf", "(" .. (start - margin))
local fresh = markSeen(seenKey, hashes, times)

local applied, duplicates = 0, 0
for n = 1, #hashes do
  if fresh[n] then
    applied = applied + 1
    local time = times[n]
    redis.call("SET", bodyPrefix .. hashes[n], ARGV[at[n] + 2], "EX", math.max(1, time - time % 60 + windowMinutes * 60 + margin - now))
    redis.call("ZADD", byTimeKey, time, hashes[n])
  else
    duplicates = duplicates + 1
  end
end

local byWindow, byCap, stored = trimStored(byTimeKey, bodyPrefix, start, cap, budget)
if field ~= "" then redis.call("HSET", positionKey, field, to) end
return { "applied", applied, duplicates, stale, byWindow, byCap, stored }

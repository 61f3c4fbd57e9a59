--[[
  Group btc-address-values: adds the transactions of one stretch of a partition to the value
  each address received (outputs) and sent (inputs), each transaction once by hash, and moves
  the group's position for the partition past them, all in one atomic call.

  The window first moves to now (includes/moveAddressWindow.lua). A transaction whose minute is
  before the window start is stale: not applied. Each applied one adds, per side and address,
  its value to that minute's sorted set and to the side's 3-hour total, which is therefore the
  union of the minute sets in the window; a minute's set is subtracted from the total when the
  minute leaves the window.

  All or nothing: every check (arguments, the types of the keys, the bounds) comes before the
  first write. A value above 21 million BTC (one address's share of a transaction, or a side of
  it), or a score that would reach 2^53 (ZINCRBY's double is exact below it) in a minute set or a
  total, refuses the whole call with OUT_OF_RANGE: the consumer then applies its records one by
  one and dead-letters the one that does not fit (src/consumers/refusals.ts). A key of another
  type than its own refuses the call with {"wrong_type", key}. The first write is the window's
  move, upkeep any process may do at any time (advanceAddressWindow-7.lua): it stops before an
  expired minute set of the wrong type, and the call then answers {"wrong_type", key} with none
  of its records written (the version set if the move wrote).
  An applied call sets the version (includes/bumpVersion.lua); a refused one writes nothing.

  KEYS[5..6] are prefixes: a call touches minutes not known in advance. The full names are the
  prefix plus the minute (the projection's keys.ts, src/projections/<name>/), with the same {hash tag}.
    KEYS[1] received                     ZSET address -> satoshi received over the window
    KEYS[2] sent                         ZSET address -> satoshi sent over the window
    KEYS[3] minutes                      ZSET minute -> minute: the minutes with sets
    KEYS[4] window                       STRING first minute of the window (unix s)
    KEYS[5] received prefix .. minute    ZSET address -> satoshi received in that minute
    KEYS[6] sent prefix     .. minute    ZSET address -> satoshi sent in that minute
    KEYS[7] seen, KEYS[8] position, KEYS[9] version, ARGV[1..4] now, position field, from, to:
    as in every apply script (includes/applyArgs.lua)
    ARGV[5] window length, minutes
    ARGV[6] seconds a hash is remembered after its first copy arrived
    ARGV[7] most minute-set entries subtracted in this call
    ARGV[8..] per transaction: hash, time (unix s), R, S, then R pairs (address, satoshi) it
              paid to, then S pairs (address, satoshi) it spent from

  Returns {"applied", applied, duplicates, stale, window start}, {"moved", position},
  {"unset"} or {"wrong_type", key}, or an error code (includes/scriptError.lua):
    -1 BAD_RECORDS   the records do not divide into whole records: they do not match their
                     counts R and S
    -2 NOT_A_NUMBER  now or a setting (ARGV[1], ARGV[5..7])
    -3 NOT_A_COUNT   a time, R, S or a value
    -4 OUT_OF_RANGE  a value above 21 million BTC, or a score that would reach 2^53
]]
--- @include "scriptError"
--- @include "bounds"
--- @include "applyArgs"
--- @include "wrongType"
--- @include "checkPosition"
--- @include "isCount"
--- @include "dedupeRecords"
--- @include "rememberSeen"
--- @include "addressWindowStart"
--- @include "moveAddressWindow"
--- @include "bumpVersion"

local totals = { KEYS[1], KEYS[2] }
local indexKey = KEYS[3]
local windowKey = KEYS[4]
local minutePrefixes = { KEYS[5], KEYS[6] }
local now, field, from, to, seenKey, positionKey, versionKey = applyArgs()
local windowMinutes = tonumber(ARGV[5])
local seenKeep = tonumber(ARGV[6])
local budget = tonumber(ARGV[7])
local FIRST = 8
local B = bounds()

if not (now and windowMinutes and seenKeep and budget) then return scriptError("NOT_A_NUMBER") end
-- Where each transaction starts, checked whole before anything is written.
local starts = {}
local i = FIRST
while i <= #ARGV do
  if i + 3 > #ARGV then return scriptError("BAD_RECORDS") end
  if not (isCount(ARGV[i + 1]) and isCount(ARGV[i + 2]) and isCount(ARGV[i + 3])) then return scriptError("NOT_A_COUNT") end
  local pairsEnd = i + 3 + 2 * (tonumber(ARGV[i + 2]) + tonumber(ARGV[i + 3]))
  if pairsEnd > #ARGV then return scriptError("BAD_RECORDS") end
  for v = i + 5, pairsEnd, 2 do
    if not isCount(ARGV[v]) then return scriptError("NOT_A_COUNT") end
  end
  starts[#starts + 1] = i
  i = pairsEnd + 1
end
-- 21 million BTC at most per address and per side of a transaction.
for _, s in ipairs(starts) do
  local p = s + 5
  for side = 1, 2 do
    local sum = 0
    for _ = 1, tonumber(ARGV[s + 1 + side]) do
      sum = sum + tonumber(ARGV[p])
      p = p + 2
    end
    if sum > B.MAX_SATOSHI then return scriptError("OUT_OF_RANGE") end
  end
end
local wrong = wrongType({ { positionKey, "hash" }, { seenKey, "zset" }, { totals[1], "zset" }, { totals[2], "zset" }, { indexKey, "zset" }, { windowKey, "string" }, { versionKey, "string" } })
if wrong then return { "wrong_type", wrong } end
local refused = checkPosition(positionKey, field, from)
if refused then return refused end

-- The window start this call moves to (the move itself is the first write, below).
local start = addressWindowStart(windowKey, now, windowMinutes)
-- A transaction whose minute is before the window start is stale.
local function beforeWindow(time) return time - time % 60 < start end
local fresh, times, duplicates, stale, newHashes = dedupeRecords(seenKey, starts, beforeWindow, now - seenKeep)

-- Sums per side: per minute and address, and per address over the window.
local byMinute = { {}, {} }
local byAddress = { {}, {} }
for n, s in ipairs(fresh) do
  local minute = times[n] - times[n] % 60
  local counts = { tonumber(ARGV[s + 2]), tonumber(ARGV[s + 3]) }
  local p = s + 4
  for side = 1, 2 do
    local sums = byMinute[side][minute]
    if not sums then
      sums = {}
      byMinute[side][minute] = sums
    end
    local total = byAddress[side]
    for _ = 1, counts[side] do
      local address, value = ARGV[p], tonumber(ARGV[p + 1])
      sums[address] = (sums[address] or 0) + value
      total[address] = (total[address] or 0) + value
      p = p + 2
    end
  end
end

-- Every minute set the call writes is a sorted set, and no score reaches 2^53. The totals are
-- read before the window's move, which only lowers them: a conservative check.
local typed = {}
for side = 1, 2 do
  for minute in pairs(byMinute[side]) do typed[#typed + 1] = { minutePrefixes[side] .. minute, "zset" } end
end
wrong = wrongType(typed)
if wrong then return { "wrong_type", wrong } end
local function fits(key, sums)
  local members, adds, most = {}, {}, 0
  for address, value in pairs(sums) do
    members[#members + 1], adds[#adds + 1] = address, value
    if value > most then most = value end
  end
  -- Mostly one read: the key's highest score plus the call's largest sum is below the bound.
  local top = redis.call("ZRANGE", key, -1, -1, "WITHSCORES")[2]
  if (tonumber(top) or 0) + most < B.EXACT_DOUBLE then return true end
  for from = 1, #members, 1000 do
    local to = math.min(from + 999, #members)
    local scores = redis.call("ZMSCORE", key, unpack(members, from, to))
    for m = from, to do
      if (tonumber(scores[m - from + 1]) or 0) + adds[m] >= B.EXACT_DOUBLE then return false end
    end
  end
  return true
end
for side = 1, 2 do
  for minute, sums in pairs(byMinute[side]) do
    if not fits(minutePrefixes[side] .. minute, sums) then return scriptError("OUT_OF_RANGE") end
  end
  if not fits(totals[side], byAddress[side]) then return scriptError("OUT_OF_RANGE") end
end

-- Every check passed: the writes, the window's move first.
local _, _, _, wrongMinute, moved = moveAddressWindow(totals, minutePrefixes, indexKey, windowKey, now, windowMinutes, budget)
if wrongMinute then
  if moved then bumpVersion(versionKey) end
  return { "wrong_type", wrongMinute }
end
rememberSeen(seenKey, newHashes, now, now - seenKeep)
for side = 1, 2 do
  for minute, sums in pairs(byMinute[side]) do
    local any = false
    for address, value in pairs(sums) do
      redis.call("ZINCRBY", minutePrefixes[side] .. minute, value, address)
      any = true
    end
    if any then redis.call("ZADD", indexKey, minute, minute) end
  end
  for address, value in pairs(byAddress[side]) do
    redis.call("ZINCRBY", totals[side], value, address)
  end
end
if field ~= "" then redis.call("HSET", positionKey, field, to) end
bumpVersion(versionKey)
return { "applied", #fresh, duplicates, stale, start }

--[[
  Group btc-address-values: adds the transactions of one stretch of a partition to the value
  each address received (outputs) and sent (inputs), each transaction once by hash, and moves
  the group's position for the partition past them, all in one atomic call.

  The window first moves to now (includes/moveAddressWindow.lua). A transaction whose minute is
  before the window start is stale: not applied. Each applied one adds, per side and address,
  its value to that minute's sorted set and to the side's 3-hour total, which is therefore the
  union of the minute sets in the window; a minute's set is subtracted from the total when the
  minute leaves the window.

  KEYS[5..6] are prefixes: a call touches minutes not known in advance. The full names are the
  prefix plus the minute (src/redis/keys.ts), with the same {hash tag}.
    KEYS[1] received                     ZSET address -> satoshi received over the window
    KEYS[2] sent                         ZSET address -> satoshi sent over the window
    KEYS[3] minutes                      ZSET minute -> minute: the minutes with sets
    KEYS[4] window                       STRING first minute of the window (unix s)
    KEYS[5] received prefix .. minute    ZSET address -> satoshi received in that minute
    KEYS[6] sent prefix     .. minute    ZSET address -> satoshi sent in that minute
    KEYS[7] seen, KEYS[8] position, ARGV[1..4] now, position field, from, to: as in every
    apply script (includes/applyArgs.lua)
    ARGV[5] window length, minutes
    ARGV[6] seconds hashes are remembered past the window start
    ARGV[7] most minute-set entries subtracted in this call
    ARGV[8..] per transaction: hash, time (unix s), R, S, then R pairs (address, satoshi) it
              paid to, then S pairs (address, satoshi) it spent from

  Returns {"applied", applied, duplicates, stale, window start}, {"moved", position} or
  {"unset"}, or an error code (includes/scriptError.lua):
    -1 BAD_RECORDS   the records do not divide into whole records: they do not match their
                     counts R and S
    -2 NOT_A_NUMBER  now or a setting (ARGV[1], ARGV[5..7])
    -3 NOT_A_COUNT   a time, R, S or a value
]]
--- @include "scriptError"
--- @include "applyArgs"
--- @include "checkPosition"
--- @include "isCount"
--- @include "dedupeRecords"
--- @include "moveAddressWindow"

local totals = { KEYS[1], KEYS[2] }
local indexKey = KEYS[3]
local windowKey = KEYS[4]
local minutePrefixes = { KEYS[5], KEYS[6] }
local now, field, from, to, seenKey, positionKey = applyArgs()
local windowMinutes = tonumber(ARGV[5])
local seenMargin = tonumber(ARGV[6])
local budget = tonumber(ARGV[7])
local FIRST = 8

if not (now and windowMinutes and seenMargin and budget) then return scriptError("NOT_A_NUMBER") end
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
local refused = checkPosition(positionKey, field, from)
if refused then return refused end

local start = moveAddressWindow(totals, minutePrefixes, indexKey, windowKey, now, windowMinutes, budget)

-- A transaction whose minute is before the window start is stale.
local function beforeWindow(time) return time - time % 60 < start end
local fresh, times, duplicates, stale = dedupeRecords(seenKey, starts, beforeWindow, start - seenMargin)

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
return { "applied", #fresh, duplicates, stale, start }

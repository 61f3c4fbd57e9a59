--[[
  Group btc-transactions: stores the transactions of one stretch of a partition, each once by
  hash, for the 3-hour window and within the cap, and moves the group's position for the
  partition past them, all in one atomic call.

  A transaction is stored as its JSON body (what the API serves) under its hash, and indexed by
  event time in a sorted set. A hash the group has seen changes nothing; a transaction whose
  minute is before the window start is stale. Then the oldest are dropped: those before the
  window start, and beyond the cap (includes/trimStored.lua).

  Every transaction the call stores is also appended to the stream /stream reads (XADD with the
  explicit id "<n>-0", n one more than the stream's last entry, 1 when it is empty or absent;
  field `tx` = the stored JSON), in the order stored, late ones included, so n counts stored
  transactions without a gap. It is trimmed with MAXLEN ~ ARGV[10]. A stretch that is part of the
  replay that started the projection (`to` <= the replay hash's "<field>:until") is not streamed:
  it was streamed when it first arrived. The projection's drop leaves the stream alone.

  All or nothing: every check (arguments, the types of the keys) comes before the first write; it
  writes no sum (its values are checked by the consumer's schema, src/domain/transaction.ts). A
  key of another type than its own refuses the call with {"wrong_type", key}. A body key of
  another type is no failure: SET replaces it.

  KEYS[2] is a prefix: the full name of a body is the prefix plus the hash (the projection's keys.ts, src/projections/<name>/).
    KEYS[1] by time                  ZSET transaction hash -> event time (unix s)
    KEYS[2] body prefix .. hash      STRING the transaction's JSON, expires
    KEYS[3] stream                   STREAM id "<n>-0" -> tx = the transaction's JSON
    KEYS[4] replay                   HASH, read only: "<topic>:<partition>:until" (lua/startReplay-3.lua)
    KEYS[5] seen, KEYS[6] position, KEYS[7] version, ARGV[1..4] now, position field, from, to:
    as in every apply script (includes/applyArgs.lua)
    ARGV[5] window length, minutes
    ARGV[6] cap: most transactions stored
    ARGV[7] seconds bodies live past the window start
    ARGV[8] most transactions dropped in this call
    ARGV[9] seconds a hash is remembered after its first copy arrived
    ARGV[10] most entries the stream keeps (MAXLEN ~)
    ARGV[11..] 3 fields per transaction: hash, time (unix s), JSON body

  An applied call sets the version (includes/bumpVersion.lua); a refused one writes nothing.

  Returns {"applied", applied, duplicates, stale, removed by the window, removed by the cap,
  stored}, {"moved", position}, {"unset"} or {"wrong_type", key}, or an error code
  (includes/scriptError.lua):
    -1 BAD_RECORDS   the records do not divide into whole records of 3 fields
    -2 NOT_A_NUMBER  now or a setting (ARGV[1], ARGV[5..10])
    -3 NOT_A_COUNT   a time
]]
--- @include "scriptError"
--- @include "applyArgs"
--- @include "wrongType"
--- @include "checkPosition"
--- @include "isCount"
--- @include "recordStarts"
--- @include "dedupeRecords"
--- @include "rememberSeen"
--- @include "windowStart"
--- @include "trimStored"
--- @include "bumpVersion"

local byTimeKey = KEYS[1]
local bodyPrefix = KEYS[2]
local streamKey = KEYS[3]
local replayKey = KEYS[4]
local now, field, from, to, seenKey, positionKey, versionKey = applyArgs()
local windowMinutes = tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local margin = tonumber(ARGV[7])
local budget = tonumber(ARGV[8])
local seenKeep = tonumber(ARGV[9])
local streamMax = tonumber(ARGV[10])
local FIRST, FIELDS = 11, 3

if not (now and windowMinutes and cap and margin and budget and seenKeep and streamMax) then return scriptError("NOT_A_NUMBER") end
local starts = recordStarts(FIRST, FIELDS)
if not starts then return scriptError("BAD_RECORDS") end
for _, s in ipairs(starts) do
  if not isCount(ARGV[s + 1]) then return scriptError("NOT_A_COUNT") end
end
local wrong = wrongType({ { positionKey, "hash" }, { seenKey, "zset" }, { byTimeKey, "zset" }, { streamKey, "stream" }, { replayKey, "hash" }, { versionKey, "string" } })
if wrong then return { "wrong_type", wrong } end
local refused = checkPosition(positionKey, field, from)
if refused then return refused end
local start = windowStart(now, windowMinutes)

-- A transaction whose minute is before the window start is stale.
local function beforeWindow(time) return time - time % 60 < start end
local fresh, times, duplicates, stale, newHashes = dedupeRecords(seenKey, starts, beforeWindow, now - seenKeep)

-- Every check passed: the writes.
rememberSeen(seenKey, newHashes, now, now - seenKeep)
for n, s in ipairs(fresh) do
  local hash, time = ARGV[s], times[n]
  redis.call("SET", bodyPrefix .. hash, ARGV[s + 2], "EX", math.max(1, time - time % 60 + windowMinutes * 60 + margin - now))
  redis.call("ZADD", byTimeKey, time, hash)
end

-- The stream, unless this stretch is the replay's (streamed when it first arrived).
local replayed = false
if field ~= "" and #fresh > 0 then
  local untilOffset = tonumber(redis.call("HGET", replayKey, field .. ":until"))
  replayed = untilOffset ~= nil and tonumber(to) ~= nil and tonumber(to) <= untilOffset
end
if #fresh > 0 and not replayed then
  local n = 0
  local last = redis.call("XREVRANGE", streamKey, "+", "-", "COUNT", 1)[1]
  if last then
    n = tonumber(string.match(last[1], "^(%d+)"))
  elseif redis.call("EXISTS", streamKey) == 1 then
    -- Emptied but there (XTRIM by hand): its ids go on after the last one it gave.
    local info = redis.call("XINFO", "STREAM", streamKey)
    for i = 1, #info, 2 do
      if info[i] == "last-generated-id" then n = tonumber(string.match(info[i + 1], "^(%d+)")) end
    end
  end
  for _, s in ipairs(fresh) do
    n = n + 1
    redis.call("XADD", streamKey, "MAXLEN", "~", streamMax, string.format("%d-0", n), "tx", ARGV[s + 2])
  end
end

local byWindow, byCap, stored = trimStored(byTimeKey, bodyPrefix, start, cap, budget)
if field ~= "" then redis.call("HSET", positionKey, field, to) end
bumpVersion(versionKey)
return { "applied", #fresh, duplicates, stale, byWindow, byCap, stored }

--[[
  Group btc-fee-rates: adds the transactions of one stretch of a partition to the fee figures of
  their event minute, each transaction once by hash, and moves the group's position for the
  partition past them, all in one atomic call.

  Per minute, one HASH (readable in redis-cli with HGETALL):
    count        transactions whose fee is known (counted in every figure below)
    unknown_fee  transactions whose fee is unknown (an input without its value): counted here only
    fee          their fees, satoshi
    vsize        their virtual sizes, vbytes
    min_rate     the lowest fee rate, sat per 1,000 vbytes (an integer: exact)
    max_rate     the highest fee rate, sat per 1,000 vbytes
    band:<n>     transactions whose rate falls in the fee band starting at n sat/vB (the caller
                 gives each transaction's band: src/projections/fees/bands.ts)

  A hash the group has seen changes nothing. A transaction whose minute has already expired is
  stale: not applied. All or nothing: every check (arguments, the types of the keys, the bounds)
  comes before the first write; a sum that would leave int64 refuses the call with OUT_OF_RANGE.

  KEYS[1] is a prefix (a call touches minutes not known in advance): KEYS[1] .. minute start (unix s)
  is the minute's HASH, with a TTL.
    KEYS[1] minute prefix
    KEYS[2] seen, KEYS[3] position, KEYS[4] version, ARGV[1..4] now, position field, from, to: as
    in every apply script (includes/applyArgs.lua)
    ARGV[5] seconds a minute lives after it starts
    ARGV[6] seconds a hash is remembered after its first copy arrived
    ARGV[7..] 6 fields per transaction: hash, time (unix s), fee (satoshi), vsize (vbytes),
    rate (sat/kvB), band (its lower bound, sat/vB); fee, rate and band "" when the fee is unknown

  An applied call sets the version (includes/bumpVersion.lua); a refused one writes nothing.

  Returns {"applied", applied, duplicates, stale}, {"moved", position} or {"unset"}
  (includes/checkPosition.lua), {"wrong_type", key}, or an error code (includes/scriptError.lua):
    -1 BAD_RECORDS   the records do not divide into whole records of 6 fields
    -2 NOT_A_NUMBER  now or a setting (ARGV[1], ARGV[5..6])
    -3 NOT_A_COUNT   a time, fee, vsize, rate or band
    -4 OUT_OF_RANGE  a fee above 21 million BTC, or a sum that would leave int64
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
local now, field, from, to, seenKey, positionKey, versionKey = applyArgs()
local keep = tonumber(ARGV[5])
local seenKeep = tonumber(ARGV[6])
local FIRST, FIELDS = 7, 6
local B = bounds()

if not (now and keep and seenKeep) then return scriptError("NOT_A_NUMBER") end
local starts = recordStarts(FIRST, FIELDS)
if not starts then return scriptError("BAD_RECORDS") end
local function known(s) return ARGV[s + 2] ~= "" end
for _, s in ipairs(starts) do
  if not isCount(ARGV[s + 1]) then return scriptError("NOT_A_COUNT") end
  if known(s) and not (isCount(ARGV[s + 2]) and isCount(ARGV[s + 3]) and isCount(ARGV[s + 4]) and isCount(ARGV[s + 5])) then
    return scriptError("NOT_A_COUNT")
  end
end
for _, s in ipairs(starts) do
  if known(s) and tonumber(ARGV[s + 2]) > B.MAX_SATOSHI then return scriptError("OUT_OF_RANGE") end
end
local wrong = wrongType({ { positionKey, "hash" }, { seenKey, "zset" }, { versionKey, "string" } })
if wrong then return { "wrong_type", wrong } end
local refused = checkPosition(positionKey, field, from)
if refused then return refused end

local function expired(time) return time - time % 60 + keep <= now end
local fresh, times, duplicates, stale, newHashes = dedupeRecords(seenKey, starts, expired, now - seenKeep)

-- Per minute: what the call adds. Fees are summed in parts below 2^53 (exact in a Lua number),
-- one HINCRBY a part.
local minutes, order = {}, {}
for n, s in ipairs(fresh) do
  local time = times[n]
  local key = minutePrefix .. (time - time % 60)
  local m = minutes[key]
  if m == nil then
    m = { ttl = time - time % 60 + keep - now, count = 0, unknown = 0, parts = { 0 }, fee = 0, vsize = 0, bands = {}, min = nil, max = nil }
    minutes[key] = m
    order[#order + 1] = key
  end
  if known(s) then
    local fee, vsize, rate, band = tonumber(ARGV[s + 2]), tonumber(ARGV[s + 3]), tonumber(ARGV[s + 4]), ARGV[s + 5]
    if m.parts[#m.parts] + fee >= B.EXACT_DOUBLE then m.parts[#m.parts + 1] = 0 end
    m.parts[#m.parts] = m.parts[#m.parts] + fee
    m.fee = m.fee + fee
    m.count = m.count + 1
    m.vsize = m.vsize + vsize
    m.bands[band] = (m.bands[band] or 0) + 1
    if m.min == nil or rate < m.min then m.min = rate end
    if m.max == nil or rate > m.max then m.max = rate end
  else
    m.unknown = m.unknown + 1
  end
end

-- Every minute the call writes is a hash, and its sums stay within int64 after the call.
local typed = {}
for _, key in ipairs(order) do typed[#typed + 1] = { key, "hash" } end
wrong = wrongType(typed)
if wrong then return { "wrong_type", wrong } end
local current = {}
for _, key in ipairs(order) do
  local c = redis.call("HMGET", key, "count", "unknown_fee", "fee", "vsize", "min_rate", "max_rate")
  local m = minutes[key]
  for i, add in ipairs({ m.count, m.unknown, m.fee, m.vsize }) do
    if (tonumber(c[i]) or 0) + add >= B.EXACT_INT64 then return scriptError("OUT_OF_RANGE") end
  end
  current[key] = { min = tonumber(c[5]), max = tonumber(c[6]) }
end

-- Every check passed: the writes.
rememberSeen(seenKey, newHashes, now, now - seenKeep)
local ttls = {}
for _, key in ipairs(order) do
  local m, c = minutes[key], current[key]
  if m.unknown > 0 then redis.call("HINCRBY", key, "unknown_fee", m.unknown) end
  if m.count > 0 then
    redis.call("HINCRBY", key, "count", m.count)
    for _, part in ipairs(m.parts) do redis.call("HINCRBY", key, "fee", part) end
    redis.call("HINCRBY", key, "vsize", m.vsize)
    for band, n in pairs(m.bands) do redis.call("HINCRBY", key, "band:" .. band, n) end
    if c.min == nil or m.min < c.min then redis.call("HSET", key, "min_rate", string.format("%d", m.min)) end
    if c.max == nil or m.max > c.max then redis.call("HSET", key, "max_rate", string.format("%d", m.max)) end
  end
  ttls[key] = m.ttl
end
extendExpiries(ttls)
if field ~= "" then redis.call("HSET", positionKey, field, to) end
bumpVersion(versionKey)
return { "applied", #fresh, duplicates, stale }

--[[
  Group btc-address-values: adds a batch of transactions to the value each address received
  (outputs) and sent (inputs) over the 3-hour window, each transaction once.

  First the window is moved to `now` (advanceAddressWindow: expired minutes are subtracted).
  A transaction already in the group's dedupe set for its minute (or earlier in the batch) is a
  duplicate; one whose minute is before the window start is stale. Every other one is applied:
  its (address, value) pairs go into the rolling set of their side, and its slice records into
  the slice of its minute, which is what gets subtracted when that minute leaves the window.

  The client sends the batch's sums per (side, address) ready to add, so an address used by many
  transactions of the batch costs one ZINCRBY; the sums of the transactions that turn out to be
  duplicates or stale are taken back out here, from their slice records, before adding.
  A slice record names an address by an 8-byte fingerprint (10 bytes a record instead of ~45);
  the names hash maps a fingerprint back to the address, and forgets it when the address has
  left both rolling sets (subtractSlice).

  KEYS[5..7] are prefixes (a batch touches minutes and buckets not known in advance; a script has
  a fixed number of keys); the full names are the prefix plus the suffix shown, with the same
  {hash tag} (src/redis/keys.ts).
    KEYS[1] received                                   ZSET address -> satoshi over the window
    KEYS[2] sent                                       ZSET address -> satoshi over the window
    KEYS[3] slice index                                ZSET minute -> minute, slices not yet subtracted
    KEYS[4] window start                               STRING minute (unix s)
    KEYS[5] slice prefix   .. minute                   LIST of chunks: "r" or "s", then slice records
    KEYS[6] names prefix   .. 0..4095                  HASH address fingerprint -> address
    KEYS[7] dedupe prefix  .. minute .. ":" .. bucket  SET of transaction fingerprints

    ARGV[1] now, unix seconds
    ARGV[2] window length, minutes
    ARGV[3] seconds the dedupe set of a minute outlives the window
    ARGV[4] most expired minutes to subtract in this call
    ARGV[5] T, transactions in this call
    ARGV[6] R, addresses with a received sum
    ARGV[7] S, addresses with a sent sum
    then T × 5: time (unix s), dedupe bucket, fingerprint, received slice records, sent slice
                records (slice record: 8-byte address fingerprint, varint value; see
                includes/parseSliceRecords.lua)
    then R addresses, then S addresses
    then 2 blobs of slice records, one per address above in the same order: the received sums,
                the sent sums (one argument per side rather than two per address: arguments
                cost more to take in than bytes to parse)

  Returns {applied, duplicates, stale, window start}, or a negative error code:
    -1 the arguments do not match the counts T, R, S
    -2 now or a setting is not a number
    -3 a time is not a non-negative integer
]]
--- @include "windowStart"
--- @include "markSeenBatch"
--- @include "extendExpiries"
--- @include "namesBucket"
--- @include "pushAll"
--- @include "parseSliceRecords"
--- @include "advanceAddressWindow"

local receivedKey = KEYS[1]
local sentKey = KEYS[2]
local indexKey = KEYS[3]
local windowKey = KEYS[4]
local slicePrefix = KEYS[5]
local namesPrefix = KEYS[6]
local seenPrefix = KEYS[7]

local now = tonumber(ARGV[1])
local windowMinutes = tonumber(ARGV[2])
local seenMargin = tonumber(ARGV[3])
local maxMinutes = tonumber(ARGV[4])
local nTx, nReceived, nSent = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local TX_FROM, TX_FIELDS = 8, 5

if not (now and windowMinutes and seenMargin and maxMinutes and nTx and nReceived and nSent) then return -2 end
local receivedFrom = TX_FROM + TX_FIELDS * nTx
local sentFrom = receivedFrom + nReceived
local sumsAt = sentFrom + nSent
if #ARGV ~= sumsAt + 1 then return -1 end
for i = TX_FROM, receivedFrom - 1, TX_FIELDS do
  local time = tonumber(ARGV[i])
  if not time or time < 0 or time % 1 ~= 0 then return -3 end
end
local sides = {
  { key = receivedKey, from = receivedFrom, count = nReceived, records = 3, fps = {}, sums = {} },
  { key = sentKey, from = sentFrom, count = nSent, records = 4, fps = {}, sums = {} },
}
for s, side in ipairs(sides) do
  parseSliceRecords(ARGV[sumsAt + s - 1], 1, function(fp, value)
    side.fps[#side.fps + 1] = fp
    side.sums[#side.sums + 1] = value
  end)
  if #side.sums ~= side.count then return -1 end
end

local start = advanceAddressWindow(receivedKey, sentKey, indexKey, windowKey, slicePrefix, namesPrefix, now, windowMinutes, maxMinutes)
local windowSeconds = windowMinutes * 60
local ttls = {}

-- Stale or dedupe candidate.
local minutes, buckets, fps, at = {}, {}, {}, {}
local left = {}   -- ARGV positions of the transactions not applied
local stale = 0
for i = TX_FROM, receivedFrom - 1, TX_FIELDS do
  local time = tonumber(ARGV[i])
  local minute = time - time % 60
  if minute < start then
    stale = stale + 1
    left[#left + 1] = i
  else
    local n = #fps + 1
    minutes[n], buckets[n], fps[n], at[n] = minute, ARGV[i + 1], ARGV[i + 2], i
  end
end
local fresh = markSeenBatch(seenPrefix, minutes, buckets, fps, windowSeconds + seenMargin, now, ttls)

local slices = {}   -- minute -> { r = {records}, s = {records} }
local applied, duplicates = 0, 0
for n = 1, #fps do
  local i = at[n]
  if fresh[n] then
    applied = applied + 1
    local slice = slices[minutes[n]]
    if not slice then
      slice = { r = {}, s = {} }
      slices[minutes[n]] = slice
    end
    if #ARGV[i + 3] > 0 then slice.r[#slice.r + 1] = ARGV[i + 3] end
    if #ARGV[i + 4] > 0 then slice.s[#slice.s + 1] = ARGV[i + 4] end
  else
    duplicates = duplicates + 1
    left[#left + 1] = i
  end
end

-- The sums, less what the transactions not applied contributed.
if #left > 0 then
  for _, side in ipairs(sides) do
    local position = {}
    for k, fp in ipairs(side.fps) do position[fp] = k end
    for _, i in ipairs(left) do
      parseSliceRecords(ARGV[i + side.records], 1, function(fp, value)
        local k = position[fp]
        if k then side.sums[k] = side.sums[k] - value end
      end)
    end
  end
end

-- Rolling sets; an address new to a set gets its name recorded (it may be there already, from
-- the other side: HSET then changes nothing).
for _, side in ipairs(sides) do
  for k = 1, side.count do
    local sum = side.sums[k]
    if sum > 0 then
      local address = ARGV[side.from + k - 1]
      if tonumber(redis.call("ZINCRBY", side.key, sum, address)) == sum then
        local fp = side.fps[k]
        redis.call("HSET", namesPrefix .. namesBucket(fp), fp, address)
      end
    end
  end
end

-- Slices: one chunk per side and minute per call.
for minute, slice in pairs(slices) do
  local chunks = {}
  if #slice.r > 0 then chunks[#chunks + 1] = "r" .. table.concat(slice.r) end
  if #slice.s > 0 then chunks[#chunks + 1] = "s" .. table.concat(slice.s) end
  if #chunks > 0 then
    pushAll(slicePrefix .. minute, chunks)
    redis.call("ZADD", indexKey, minute, minute)
  end
end

extendExpiries(ttls)
return { applied, duplicates, stale, start }

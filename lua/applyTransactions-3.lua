--[[
  Group btc-transactions: stores a batch of transactions, each once, for the 3-hour window and
  within the cap.

  A transaction already in the group's dedupe set for its minute (or earlier in the batch) is a
  duplicate; one whose minute is before the window start is stale; neither is stored.
  A transaction is stored as a compact binary body (src/consumers/body.ts) appended to the list
  of its event minute; the minutes hash counts each list. The group's dedupe sets (per minute and
  bucket) double as the index by hash (findTransaction-3.lua). Before adding, minutes before the
  window start are dropped; after, the oldest are dropped while more than `cap` are stored
  (includes/trimTransactions.lua).

  KEYS[2..3] are prefixes (a batch touches minutes and buckets not known in advance; a script
  has a fixed number of keys); full names are the prefix plus the suffix shown, same {hash tag}.
    KEYS[1] minutes                                   HASH minute (unix s) -> transactions stored
    KEYS[2] list prefix    .. minute                  LIST of bodies
    KEYS[3] dedupe prefix  .. minute .. ":" .. bucket SET of fingerprints

    ARGV[1] now, unix seconds
    ARGV[2] window length, minutes
    ARGV[3] cap: most transactions stored
    ARGV[4] seconds the dedupe set of a minute outlives the window
    ARGV[5] seconds a minute's list lives (a bound for a list nobody trims any more)
    ARGV[6..] 4 fields per transaction: time (unix s), dedupe bucket, fingerprint, body

  Returns {applied, duplicates, stale, removed by the window, removed by the cap, stored}, or a
  negative error code:
    -1 the records do not divide into whole records of 4 fields
    -2 now or a setting is not a number
    -3 a time is not a non-negative integer
]]
--- @include "windowStart"
--- @include "markSeenBatch"
--- @include "extendExpiries"
--- @include "pushAll"
--- @include "trimTransactions"

local minutesKey = KEYS[1]
local listPrefix = KEYS[2]
local seenPrefix = KEYS[3]

local now = tonumber(ARGV[1])
local windowMinutes = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local seenMargin = tonumber(ARGV[4])
local listKeep = tonumber(ARGV[5])
local FIRST, FIELDS = 6, 4

if not (now and windowMinutes and cap and seenMargin and listKeep) then return -2 end
if (#ARGV - FIRST + 1) % FIELDS ~= 0 then return -1 end
for i = FIRST, #ARGV, FIELDS do
  local time = tonumber(ARGV[i])
  if not time or time < 0 or time % 1 ~= 0 then return -3 end
end

local start = windowStart(now, windowMinutes)
local byWindow = trimTransactions(minutesKey, listPrefix, start, math.huge)
local windowSeconds = windowMinutes * 60

local minutes, buckets, fps, at = {}, {}, {}, {}
local stale = 0
local ttls = {}
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

local lists = {}   -- minute -> bodies
local applied, duplicates = 0, 0
for n = 1, #fps do
  if fresh[n] then
    applied = applied + 1
    local bodies = lists[minutes[n]]
    if not bodies then
      bodies = {}
      lists[minutes[n]] = bodies
    end
    bodies[#bodies + 1] = ARGV[at[n] + 3]
  else
    duplicates = duplicates + 1
  end
end

for minute, bodies in pairs(lists) do
  local listKey = listPrefix .. minute
  pushAll(listKey, bodies)
  redis.call("HINCRBY", minutesKey, minute, #bodies)
  ttls[listKey] = minute + listKeep - now
end
extendExpiries(ttls)

local _, byCap, stored = trimTransactions(minutesKey, listPrefix, start, cap)
return { applied, duplicates, stale, byWindow, byCap, stored }

--[[
  Group btc-address-values: moves the 3-hour address window to `now` without adding anything,
  so the window advances while the feed is idle. Every process of the group runs it on a timer
  and the API may run it before reading; it is idempotent and safe to run concurrently (see
  includes/advanceAddressWindow.lua).

    KEYS[1] received                        ZSET address -> satoshi over the window
    KEYS[2] sent                            ZSET address -> satoshi over the window
    KEYS[3] slice index                     ZSET minute -> minute
    KEYS[4] window start                    STRING minute (unix s)
    KEYS[5] slice prefix  .. minute         LIST of chunks (a prefix: the minutes are found in KEYS[3])
    KEYS[6] names prefix  .. 0..4095        HASH fingerprint -> address (a prefix: buckets come from the slices)

    ARGV[1] now, unix seconds
    ARGV[2] window length, minutes
    ARGV[3] most expired minutes to subtract in this call

  Returns {window start, minutes subtracted, expired minutes still waiting}, or -2 when an
  argument is not a number.
]]
--- @include "advanceAddressWindow"

local receivedKey = KEYS[1]
local sentKey = KEYS[2]
local indexKey = KEYS[3]
local windowKey = KEYS[4]
local slicePrefix = KEYS[5]
local namesPrefix = KEYS[6]

local now = tonumber(ARGV[1])
local windowMinutes = tonumber(ARGV[2])
local maxMinutes = tonumber(ARGV[3])
if not (now and windowMinutes and maxMinutes) then return -2 end

local start, subtracted, waiting = advanceAddressWindow(receivedKey, sentKey, indexKey, windowKey, slicePrefix, namesPrefix, now, windowMinutes, maxMinutes)
return { start, subtracted, waiting }

--[[
  Group btc-transactions: drops stored transactions outside the window and beyond the cap
  without adding any; run on a timer so the store follows the window while the feed is idle.

  KEYS[2] is a prefix: the minutes to drop are found in KEYS[1].
    KEYS[1] minutes                 HASH minute (unix s) -> transactions stored
    KEYS[2] list prefix  .. minute  LIST of bodies

    ARGV[1] now, unix seconds
    ARGV[2] window length, minutes
    ARGV[3] cap: most transactions stored

  Returns {removed by the window, removed by the cap, stored}, or -2 when an argument is not a number.
]]
--- @include "windowStart"
--- @include "trimTransactions"

local minutesKey = KEYS[1]
local listPrefix = KEYS[2]

local now = tonumber(ARGV[1])
local windowMinutes = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
if not (now and windowMinutes and cap) then return -2 end

local byWindow, byCap, stored = trimTransactions(minutesKey, listPrefix, windowStart(now, windowMinutes), cap)
return { byWindow, byCap, stored }

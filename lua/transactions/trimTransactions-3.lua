--[[
  Group btc-transactions: drops stored transactions before the window start and beyond the cap
  without adding any; run on a timer so the store follows the window while the feed is idle. A
  call that dropped any sets the version (includes/bumpVersion.lua).

    KEYS[1] by time                  ZSET transaction hash -> event time (unix s)
    KEYS[2] body prefix .. hash      STRING the transaction's JSON (a prefix)
    KEYS[3] version                  STRING

    ARGV[1] now, unix seconds; "" for Redis's clock
    ARGV[2] window length, minutes
    ARGV[3] cap: most transactions stored
    ARGV[4] most transactions dropped in this call

  Returns {removed by the window, removed by the cap, stored}, or an error code
  (includes/scriptError.lua):
    -2 NOT_A_NUMBER  now or a setting (ARGV[1..4])
]]
--- @include "scriptError"
--- @include "clock"
--- @include "windowStart"
--- @include "trimStored"
--- @include "bumpVersion"

local now = clock(ARGV[1])
local windowMinutes = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
if not (now and windowMinutes and cap and budget) then return scriptError("NOT_A_NUMBER") end

local byWindow, byCap, stored = trimStored(KEYS[1], KEYS[2], windowStart(now, windowMinutes), cap, budget)
if byWindow + byCap > 0 then bumpVersion(KEYS[3]) end
return { byWindow, byCap, stored }

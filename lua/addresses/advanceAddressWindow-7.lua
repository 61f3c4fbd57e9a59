--[[
  Group btc-address-values: moves the 3-hour address window to now without adding anything, so
  it advances while the feed is idle. Every process of the group runs it on a timer; it is
  idempotent and safe to run concurrently (includes/moveAddressWindow.lua). A call that moved the
  start or subtracted anything sets the version (includes/bumpVersion.lua).

  KEYS[5..6] are prefixes of the minute sets (the minutes are found in KEYS[3]).
    KEYS[1] received                     ZSET address -> satoshi over the window
    KEYS[2] sent                         ZSET address -> satoshi over the window
    KEYS[3] minutes                      ZSET minute -> minute
    KEYS[4] window                       STRING first minute of the window (unix s)
    KEYS[5] received prefix .. minute    ZSET address -> satoshi in that minute
    KEYS[6] sent prefix     .. minute    ZSET address -> satoshi in that minute
    KEYS[7] version                      STRING (includes/bumpVersion.lua)

    ARGV[1] now, unix seconds; "" for Redis's clock
    ARGV[2] window length, minutes
    ARGV[3] most minute-set entries subtracted in this call

  Returns {window start, entries subtracted, 1 when more are waiting else 0}, an error reply
  "WRONGTYPE <key> ..." naming a key of the wrong type (written by hand; the upkeep logs it and
  stops before that key), or an error code (includes/scriptError.lua):
    -2 NOT_A_NUMBER  now or a setting (ARGV[1..3])
]]
--- @include "scriptError"
--- @include "clock"
--- @include "wrongType"
--- @include "moveAddressWindow"
--- @include "bumpVersion"

local now = clock(ARGV[1])
local windowMinutes = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
if not (now and windowMinutes and budget) then return scriptError("NOT_A_NUMBER") end

local function wrongTypeReply(key) return redis.error_reply("WRONGTYPE " .. key .. " holds another type than the address window writes there") end
local wrong = wrongType({ { KEYS[1], "zset" }, { KEYS[2], "zset" }, { KEYS[3], "zset" }, { KEYS[4], "string" }, { KEYS[7], "string" } })
if wrong then return wrongTypeReply(wrong) end
local start, subtracted, waiting, moved
start, subtracted, waiting, wrong, moved = moveAddressWindow({ KEYS[1], KEYS[2] }, { KEYS[5], KEYS[6] }, KEYS[3], KEYS[4], now, windowMinutes, budget)
if moved then bumpVersion(KEYS[7]) end
if wrong then return wrongTypeReply(wrong) end
return { start, subtracted, waiting and 1 or 0 }

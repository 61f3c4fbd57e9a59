--[[
  Group btc-fee-rates: drops the whole projection in one atomic call (bun run rebuild). With its
  position gone, the group's consumers replay the log into it by themselves. The minutes are
  found from the clock: every minute that can still exist.

    KEYS[1] minute prefix .. minute start     HASH
    KEYS[2] seen                              ZSET
    KEYS[3] position                          HASH
    KEYS[4] replay                            HASH

    ARGV[1] now, unix seconds; "" for Redis's clock
    ARGV[2] seconds a minute lives after it starts
    ARGV[3] seconds ahead of now a minute can be (records stamped ahead)

  Returns the number of keys deleted, or an error code (includes/scriptError.lua):
    -2 NOT_A_NUMBER  now or a setting (ARGV[1..3])
]]
--- @include "scriptError"
--- @include "clock"
--- @include "unlinkAll"

local now = clock(ARGV[1])
local keep, ahead = tonumber(ARGV[2]), tonumber(ARGV[3])
if not (now and keep and ahead) then return scriptError("NOT_A_NUMBER") end

local minutes = {}
local last = now + ahead
for t = now - now % 60 - keep, last - last % 60, 60 do minutes[#minutes + 1] = t end
return unlinkAll(KEYS[1], minutes) + redis.call("UNLINK", KEYS[2], KEYS[3], KEYS[4])

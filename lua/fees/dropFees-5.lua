--[[
  Group btc-fee-rates: drops the whole projection in one atomic call (bun run rebuild). With its
  position gone, the group's consumers replay the log into it by themselves. The minutes are
  found from the clock: every minute that can still exist. The version stays, set again when the
  call deleted anything (includes/bumpVersion.lua), so the API sees the change and the version
  never goes back.

    KEYS[1] minute prefix .. minute start     HASH
    KEYS[2] seen                              ZSET
    KEYS[3] position                          HASH
    KEYS[4] replay                            HASH
    KEYS[5] version                           STRING

    ARGV[1] now, unix seconds; "" for Redis's clock
    ARGV[2] seconds a minute lives after it starts
    ARGV[3] seconds ahead of now a minute can be (records stamped ahead)

  Returns the number of keys deleted (the version not among them), or an error code (includes/scriptError.lua):
    -2 NOT_A_NUMBER  now or a setting (ARGV[1..3])
]]
--- @include "scriptError"
--- @include "clock"
--- @include "unlinkAll"
--- @include "bumpVersion"

local now = clock(ARGV[1])
local keep, ahead = tonumber(ARGV[2]), tonumber(ARGV[3])
if not (now and keep and ahead) then return scriptError("NOT_A_NUMBER") end

local minutes = {}
local last = now + ahead
for t = now - now % 60 - keep, last - last % 60, 60 do minutes[#minutes + 1] = t end
local deleted = unlinkAll(KEYS[1], minutes) + redis.call("UNLINK", KEYS[2], KEYS[3], KEYS[4])
if deleted > 0 then bumpVersion(KEYS[5]) end
return deleted

--[[
  Group btc-minute-counts: drops the whole projection in one atomic call (bun run rebuild). With
  its position gone, the group's consumers replay the log into it by themselves.
  The minute and hour buckets are found from the clock: every bucket that can still exist. The
  version stays, set again when the call deleted anything (includes/bumpVersion.lua), so the API
  sees the change and the version never goes back.

    KEYS[1] minute prefix .. minute start     HASH {count, value}
    KEYS[2] hour prefix   .. hour start       HASH {count, value}
    KEYS[3] seen                              ZSET
    KEYS[4] position                          HASH
    KEYS[5] replay                            HASH
    KEYS[6] version                           STRING

    ARGV[1] now, unix seconds; "" for Redis's clock
    ARGV[2] seconds a minute bucket lives after its minute starts
    ARGV[3] seconds an hour bucket lives after its hour starts
    ARGV[4] seconds ahead of now a bucket can be (records stamped ahead)

  Returns the number of keys deleted (the version not among them), or an error code (includes/scriptError.lua):
    -2 NOT_A_NUMBER  now or a setting (ARGV[1..4])
]]
--- @include "scriptError"
--- @include "clock"
--- @include "unlinkAll"
--- @include "bumpVersion"

local now = clock(ARGV[1])
local minuteKeep, hourKeep, ahead = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not (now and minuteKeep and hourKeep and ahead) then return scriptError("NOT_A_NUMBER") end

local function starts(step, keep)
  local out = {}
  local last = now + ahead
  for t = now - now % step - keep, last - last % step, step do out[#out + 1] = t end
  return out
end
local deleted = unlinkAll(KEYS[1], starts(60, minuteKeep)) + unlinkAll(KEYS[2], starts(3600, hourKeep))
deleted = deleted + redis.call("UNLINK", KEYS[3], KEYS[4], KEYS[5])
if deleted > 0 then bumpVersion(KEYS[6]) end
return deleted

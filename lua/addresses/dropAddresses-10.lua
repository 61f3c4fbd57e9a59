--[[
  Group btc-address-values: drops the whole projection in one atomic call (bun run rebuild).
  With its position gone, the group's consumers replay the log into it by themselves. The
  version stays, set again when the call deleted anything (includes/bumpVersion.lua), so the API
  sees the change and the version never goes back.

    KEYS[1] received                     ZSET
    KEYS[2] sent                         ZSET
    KEYS[3] minutes                      ZSET minute -> minute: the minutes with sets
    KEYS[4] window                       STRING
    KEYS[5] received prefix .. minute    ZSET
    KEYS[6] sent prefix     .. minute    ZSET
    KEYS[7] seen                         ZSET
    KEYS[8] position                     HASH
    KEYS[9] replay                       HASH
    KEYS[10] version                     STRING

  Returns the number of keys deleted (the version not among them).
]]
--- @include "unlinkAll"
--- @include "bumpVersion"

local minutes = redis.call("ZRANGE", KEYS[3], 0, -1)
local deleted = unlinkAll(KEYS[5], minutes) + unlinkAll(KEYS[6], minutes)
deleted = deleted + redis.call("UNLINK", KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[7], KEYS[8], KEYS[9])
if deleted > 0 then bumpVersion(KEYS[10]) end
return deleted

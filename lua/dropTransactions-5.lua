--[[
  Group btc-transactions: drops the whole projection in one atomic call (bun run rebuild). With
  its position gone, the group's consumers replay the log into it by themselves.

    KEYS[1] by time                  ZSET hash -> time: every stored transaction
    KEYS[2] body prefix .. hash      STRING
    KEYS[3] seen                     ZSET
    KEYS[4] position                 HASH
    KEYS[5] replay                   HASH

  Returns the number of keys deleted.
]]
--- @include "unlinkAll"

local deleted = unlinkAll(KEYS[2], redis.call("ZRANGE", KEYS[1], 0, -1))
return deleted + redis.call("UNLINK", KEYS[1], KEYS[3], KEYS[4], KEYS[5])

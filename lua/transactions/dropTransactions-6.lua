--[[
  Group btc-transactions: drops the projection (bun run rebuild) in one short atomic call. With
  its position gone, the group's consumers replay the log into fresh keys by themselves.

  The stored transactions are too many to delete in one call without blocking Redis (1,000,000
  by TX_CAP's default): the by-time index is renamed to `dropped` instead, and
  deleteDroppedTransactions-4.lua deletes their bodies a few thousand a call. The seen set goes
  with UNLINK (freed in the background). While an earlier drop's transactions are still being
  deleted, the call changes nothing and answers "pending": the caller finishes that one first.
  The version stays, set again when the call deleted anything (includes/bumpVersion.lua), so the
  API sees the change and the version never goes back.

    KEYS[1] by time                  ZSET hash -> time: every stored transaction
    KEYS[2] dropped                  ZSET hash -> time: a dropped projection's transactions whose
                                     bodies are still to delete
    KEYS[3] seen                     ZSET
    KEYS[4] position                 HASH
    KEYS[5] replay                   HASH
    KEYS[6] version                  STRING

  Returns {"dropped", keys deleted (the version not among them), transactions left to delete} or {"pending", transactions of
  the earlier drop left to delete}.
]]
--- @include "bumpVersion"

local byTimeKey, droppedKey = KEYS[1], KEYS[2]

if redis.call("EXISTS", droppedKey) == 1 then return { "pending", redis.call("ZCARD", droppedKey) } end
local left = 0
local t = redis.call("TYPE", byTimeKey)["ok"]
if t == "zset" then
  left = redis.call("ZCARD", byTimeKey)
  redis.call("RENAME", byTimeKey, droppedKey)
end
local deleted = redis.call("UNLINK", byTimeKey, KEYS[3], KEYS[4], KEYS[5])
if t == "zset" then deleted = deleted + 1 end
if deleted > 0 then bumpVersion(KEYS[6]) end
return { "dropped", deleted, left }

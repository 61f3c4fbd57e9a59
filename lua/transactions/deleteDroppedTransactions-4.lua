--[[
  Group btc-transactions: deletes the bodies of a dropped projection's transactions
  (dropTransactions-6.lua), at most `budget` a call, oldest first, so no call blocks Redis for
  long; called until none is left (src/rebuild/rebuild.ts). A body the replay has stored again
  (its hash is in the new by-time index) belongs to the new projection and stays. A call that
  deleted a body (the API may still serve it by hash) sets the version (includes/bumpVersion.lua).

  KEYS[3] is a prefix: the full name of a body is the prefix plus the hash (the projection's keys.ts, src/projections/<name>/).
    KEYS[1] dropped                  ZSET hash -> time: the transactions still to delete
    KEYS[2] by time                  ZSET hash -> time: the new projection's transactions
    KEYS[3] body prefix .. hash      STRING the transaction's JSON
    KEYS[4] version                  STRING

    ARGV[1] most transactions deleted in this call

  Returns {bodies deleted, transactions left to delete}, or an error code
  (includes/scriptError.lua):
    -2 NOT_A_NUMBER  the budget (ARGV[1])
]]
--- @include "scriptError"
--- @include "bumpVersion"

local droppedKey, byTimeKey, bodyPrefix = KEYS[1], KEYS[2], KEYS[3]
local budget = tonumber(ARGV[1])
if not (budget and budget >= 1) then return scriptError("NOT_A_NUMBER") end

local hashes = redis.call("ZRANGE", droppedKey, 0, budget - 1)
local deleted = 0
for from = 1, #hashes, 1000 do
  local to = math.min(from + 999, #hashes)
  local stored = redis.call("ZMSCORE", byTimeKey, unpack(hashes, from, to))
  local bodies = {}
  for i = from, to do
    if not stored[i - from + 1] then bodies[#bodies + 1] = bodyPrefix .. hashes[i] end
  end
  if #bodies > 0 then deleted = deleted + redis.call("UNLINK", unpack(bodies)) end
end
if #hashes > 0 then redis.call("ZREMRANGEBYRANK", droppedKey, 0, #hashes - 1) end
if deleted > 0 then bumpVersion(KEYS[4]) end
return { deleted, redis.call("ZCARD", droppedKey) }

--[[
  The write half of the dedupe (markSeen reads): forgets the hashes in `seenKey` that arrived
  before `forgetBefore`, then remembers each of `hashes` with its arrival, `now`. Scored by
  arrival, not by the time a copy carries: a copy re-stamped later is still known for as long as
  any copy of it could be applied (src/redis/scripts.ts, seenKeepSeconds). One ZADD per 1000.
]]
local function rememberSeen(seenKey, hashes, now, forgetBefore)
  redis.call("ZREMRANGEBYSCORE", seenKey, "-inf", "(" .. forgetBefore)
  for from = 1, #hashes, 1000 do
    local add = {}
    for i = from, math.min(from + 999, #hashes) do
      add[#add + 1] = now
      add[#add + 1] = hashes[i]
    end
    redis.call("ZADD", seenKey, unpack(add))
  end
end

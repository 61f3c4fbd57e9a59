--[[
  Dedupe by transaction hash, for a whole call: fresh[i] is true when hashes[i] is new to the
  group (not in `seenKey`, a ZSET hash -> event time, nor earlier in this call). Every new hash
  is remembered with its time, so a second delivery counts nothing even when it carries another
  time. One ZMSCORE and one ZADD per 1000 hashes.
]]
local function markSeen(seenKey, hashes, times)
  local fresh, inCall = {}, {}
  local CHUNK = 1000
  for from = 1, #hashes, CHUNK do
    local to = math.min(from + CHUNK - 1, #hashes)
    local scores = redis.call("ZMSCORE", seenKey, unpack(hashes, from, to))
    local add = {}
    for i = from, to do
      local hash = hashes[i]
      local isNew = not scores[i - from + 1] and not inCall[hash]
      fresh[i] = isNew
      if isNew then
        inCall[hash] = true
        add[#add + 1] = times[i]
        add[#add + 1] = hash
      end
    end
    if #add > 0 then redis.call("ZADD", seenKey, unpack(add)) end
  end
  return fresh
end

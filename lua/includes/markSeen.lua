--[[
  Dedupe by transaction hash, for a whole call, reading only: fresh[i] is true when hashes[i] is
  new to the group (not in `seenKey`, a ZSET hash -> arrival time, nor earlier in this call). A
  hash remembered since before `forgetBefore` is forgotten: new again (rememberSeen deletes it).
  One ZMSCORE per 1000 hashes. Returns fresh, and the new hashes in call order.
]]
local function markSeen(seenKey, hashes, forgetBefore)
  local fresh, inCall, new = {}, {}, {}
  local CHUNK = 1000
  for from = 1, #hashes, CHUNK do
    local to = math.min(from + CHUNK - 1, #hashes)
    local scores = redis.call("ZMSCORE", seenKey, unpack(hashes, from, to))
    for i = from, to do
      local hash = hashes[i]
      local score = tonumber(scores[i - from + 1])
      local isNew = (not score or score < forgetBefore) and not inCall[hash]
      fresh[i] = isNew
      if isNew then
        inCall[hash] = true
        new[#new + 1] = hash
      end
    end
  end
  return fresh, new
end

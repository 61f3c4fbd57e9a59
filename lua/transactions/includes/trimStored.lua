--[[
  Keeps the stored transactions within the window and the cap: drops those whose time is before
  `start`, then the oldest while more than `cap` are stored; at most `budget` per call (the rest
  goes on the next call). `byTimeKey` is the ZSET hash -> time, `bodyPrefix .. hash` the bodies.
  Returns removed by the window, removed by the cap, and the number stored after.
]]
local function trimStored(byTimeKey, bodyPrefix, start, cap, budget)
  local function drop(hashes)
    for i = 1, #hashes, 1000 do
      local to = math.min(i + 999, #hashes)
      local keys = {}
      for k = i, to do keys[#keys + 1] = bodyPrefix .. hashes[k] end
      redis.call("UNLINK", unpack(keys))
      redis.call("ZREM", byTimeKey, unpack(hashes, i, to))
    end
    return #hashes
  end
  local byWindow = drop(redis.call("ZRANGEBYSCORE", byTimeKey, "-inf", "(" .. start, "LIMIT", 0, budget))
  local byCap = 0
  local excess = math.min(redis.call("ZCARD", byTimeKey) - cap, budget - byWindow)
  if excess > 0 then byCap = drop(redis.call("ZRANGE", byTimeKey, 0, excess - 1)) end
  return byWindow, byCap, redis.call("ZCARD", byTimeKey)
end

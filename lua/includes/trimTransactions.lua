--[[
  Keeps the stored transactions within the window and the cap: drops every minute before
  `start`, then, while more than `cap` are stored, the oldest minutes; the last minute it cuts
  into keeps its newest transactions by time (ties in no particular order).
  Returns removed by the window, removed by the cap, and the number stored after.
]]
--- @include "pushAll"
--- @include "bodyTime"
local function trimTransactions(minutesKey, listPrefix, start, cap)
  local flat = redis.call("HGETALL", minutesKey)
  local kept = {}
  local total, byWindow, byCap = 0, 0, 0
  for i = 1, #flat, 2 do
    local minute, count = tonumber(flat[i]), tonumber(flat[i + 1])
    if minute < start then
      redis.call("DEL", listPrefix .. flat[i])
      redis.call("HDEL", minutesKey, flat[i])
      byWindow = byWindow + count
    else
      kept[#kept + 1] = { minute = minute, count = count, field = flat[i] }
      total = total + count
    end
  end
  if total > cap then
    table.sort(kept, function(x, y) return x.minute < y.minute end)
    for _, m in ipairs(kept) do
      if total <= cap then break end
      local excess = total - cap
      local listKey = listPrefix .. m.field
      if m.count <= excess then
        redis.call("DEL", listKey)
        redis.call("HDEL", minutesKey, m.field)
        total = total - m.count
        byCap = byCap + m.count
      else
        local bodies = redis.call("LRANGE", listKey, 0, -1)
        local ttl = redis.call("PTTL", listKey)
        local times = {}
        for _, body in ipairs(bodies) do times[body] = bodyTime(body) end
        table.sort(bodies, function(x, y) return times[x] < times[y] end)
        local drop = math.min(excess, #bodies)
        local keep = {}
        for i = drop + 1, #bodies do keep[#keep + 1] = bodies[i] end
        redis.call("DEL", listKey)
        pushAll(listKey, keep)
        if ttl > 0 then redis.call("PEXPIRE", listKey, ttl) end
        if #keep > 0 then
          redis.call("HSET", minutesKey, m.field, #keep)
        else
          redis.call("HDEL", minutesKey, m.field)
        end
        total = total - m.count + #keep
        byCap = byCap + (m.count - #keep)
      end
    end
  end
  return byWindow, byCap, total
end

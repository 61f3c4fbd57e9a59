--[[
  Takes expired minutes out of the address window: for each minute before `start` in the index
  (oldest first), subtracts what its sorted sets added to the 3-hour totals, removes totals that
  reach 0, and deletes the minute's entries as it goes. At most `budget` entries per call, so a
  flood minute never blocks Redis for long; the rest waits for the next call. Every step leaves
  the window consistent, so stopping after any of them is safe.
  A minute set that is not a sorted set (written by hand) stops the subtraction before it is
  touched. Returns entries subtracted, whether expired entries are still waiting, and that key
  (nil when none).
]]
local function subtractExpired(totals, minutePrefixes, indexKey, start, budget)
  local done = 0
  while true do
    local minute = redis.call("ZRANGEBYSCORE", indexKey, "-inf", "(" .. start, "LIMIT", 0, 1)[1]
    if not minute then return done, false, nil end
    for side = 1, 2 do
      local minuteKey = minutePrefixes[side] .. minute
      local room = budget - done
      if room <= 0 then return done, true, nil end
      local t = redis.call("TYPE", minuteKey)["ok"]
      if t ~= "zset" and t ~= "none" then return done, true, minuteKey end
      local entries = redis.call("ZRANGE", minuteKey, 0, room - 1, "WITHSCORES")
      local gone = {}
      for i = 1, #entries, 2 do
        local address = entries[i]
        if tonumber(redis.call("ZINCRBY", totals[side], -tonumber(entries[i + 1]), address)) <= 0 then
          gone[#gone + 1] = address
        end
      end
      for from = 1, #gone, 1000 do
        redis.call("ZREM", totals[side], unpack(gone, from, math.min(from + 999, #gone)))
      end
      local n = #entries / 2
      if n > 0 then redis.call("ZREMRANGEBYRANK", minuteKey, 0, n - 1) end
      done = done + n
      if n == room and redis.call("EXISTS", minuteKey) == 1 then return done, true, nil end
    end
    redis.call("ZREM", indexKey, minute)
  end
end

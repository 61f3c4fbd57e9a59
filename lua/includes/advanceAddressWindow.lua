--[[
  Moves the address window to `now`: every slice of a minute before the window start is
  subtracted (at most `maxMinutes` of them per call, so one call never blocks Redis long).
  Idempotent, and safe to run from several processes: the window start only moves forward (it is
  kept in `windowKey`), and a slice is subtracted once (subtracting deletes it).
  Returns the window start (unix s), the minutes subtracted now, and those still waiting.
]]
--- @include "windowStart"
--- @include "subtractSlice"
local function advanceAddressWindow(receivedKey, sentKey, indexKey, windowKey, slicePrefix, namesPrefix, now, windowMinutes, maxMinutes)
  local start = windowStart(now, windowMinutes)
  local stored = tonumber(redis.call("GET", windowKey) or "")
  if stored and stored >= start then
    start = stored
  else
    redis.call("SET", windowKey, start)
  end
  local expired = redis.call("ZRANGEBYSCORE", indexKey, "-inf", "(" .. start, "LIMIT", 0, maxMinutes)
  for _, minute in ipairs(expired) do
    subtractSlice(receivedKey, sentKey, indexKey, slicePrefix, namesPrefix, minute)
  end
  local waiting = 0
  if #expired == maxMinutes then
    waiting = redis.call("ZCOUNT", indexKey, "-inf", "(" .. start)
  end
  return start, #expired, waiting
end

--[[
  Moves the address window to `now`: the window start (kept in `windowKey`) only moves forward,
  then up to `budget` entries of the minutes before it are subtracted (subtractExpired).
  Idempotent and safe from several processes. Returns the window start, the entries subtracted
  and whether more are waiting.
]]
--- @include "windowStart"
--- @include "subtractExpired"
local function moveAddressWindow(totals, minutePrefixes, indexKey, windowKey, now, windowMinutes, budget)
  local start = windowStart(now, windowMinutes)
  local stored = tonumber(redis.call("GET", windowKey) or "")
  if stored and stored >= start then
    start = stored
  else
    redis.call("SET", windowKey, start)
  end
  local subtracted, waiting = subtractExpired(totals, minutePrefixes, indexKey, start, budget)
  return start, subtracted, waiting
end

--[[
  Moves the address window to `now`: the window start (kept in `windowKey`) only moves forward,
  then up to `budget` entries of the minutes before it are subtracted (subtractExpired).
  Idempotent and safe from several processes. Returns the window start, the entries subtracted,
  whether more are waiting, a minute set of the wrong type that stopped it (nil when none), and
  whether it moved the start or subtracted anything (the caller then sets the version).
]]
--- @include "addressWindowStart"
--- @include "subtractExpired"
local function moveAddressWindow(totals, minutePrefixes, indexKey, windowKey, now, windowMinutes, budget)
  local start = addressWindowStart(windowKey, now, windowMinutes)
  local moved = tonumber(redis.call("GET", windowKey) or "") ~= start
  if moved then redis.call("SET", windowKey, start) end
  local subtracted, waiting, wrong = subtractExpired(totals, minutePrefixes, indexKey, start, budget)
  return start, subtracted, waiting, wrong, moved or subtracted > 0
end

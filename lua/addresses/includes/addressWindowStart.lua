--[[
  The address window's start at `now`, reading only: the start kept in `windowKey` when it is
  already later (another process with a later clock moved it; it only moves forward), else the
  start at `now` (includes/windowStart.lua).
]]
--- @include "windowStart"
local function addressWindowStart(windowKey, now, windowMinutes)
  local start = windowStart(now, windowMinutes)
  local stored = tonumber(redis.call("GET", windowKey) or "")
  if stored and stored >= start then return stored end
  return start
end

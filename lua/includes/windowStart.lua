--[[
  The first minute (unix seconds of its start) of the window at `now`: the current minute and the
  `windowMinutes - 1` minutes before it (src/consumers/state.ts, windowStart).
]]
local function windowStart(now, windowMinutes)
  return now - now % 60 - (windowMinutes - 1) * 60
end

--[[
  "Now" for every script, in unix seconds: Redis's own clock (TIME), so every process agrees on
  the window whatever its own clock says. `given` overrides it when it is a number: only tests
  pass one, to place a call at a chosen time; the service always passes "".
]]
local function clock(given)
  local t = tonumber(given)
  if t then return t end
  return tonumber(redis.call("TIME")[1])
end

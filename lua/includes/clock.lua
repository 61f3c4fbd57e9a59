--[[
  "Now" for every script, in unix seconds: Redis's own clock (TIME) when `given` is "", so every
  process agrees on the window whatever its own clock says. Only tests pass a number, to place a
  call at a chosen time; anything else returns nil (the script answers NOT_A_NUMBER).
]]
local function clock(given)
  if given == "" then return tonumber(redis.call("TIME")[1]) end
  return tonumber(given)
end

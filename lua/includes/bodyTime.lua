--[[
  The event time of a stored transaction body (src/consumers/body.ts): bytes 34..37, unsigned
  32-bit big-endian unix seconds.
]]
local function bodyTime(body)
  local a, b, c, d = string.byte(body, 34, 37)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

--[[
  Whether `text` is a non-negative integer below 2^53 (a time, a value in satoshi, a count).
]]
local function isCount(text)
  local n = tonumber(text)
  return n ~= nil and n >= 0 and n % 1 == 0 and n < 9007199254740992
end

--[[
  The address-name bucket (0..4095) of an 8-byte address fingerprint: its first 12 bits. 4096
  small hashes keep Redis's compact listpack encoding up to about half a million addresses.
]]
local function namesBucket(fp)
  local first, second = string.byte(fp, 1, 2)
  return first * 16 + math.floor(second / 16)
end

--[[
  Reads slice records (8-byte address fingerprint, then the value as a varint: 7 bits a byte,
  least significant first, high bit set on all bytes but the last) from `bytes`, starting at
  byte `from`, and calls `visit(fingerprint, value)` for each. Returns how many it read.
]]
local function parseSliceRecords(bytes, from, visit)
  local pos, size, count = from, #bytes, 0
  while pos + 8 <= size do
    local fp = string.sub(bytes, pos, pos + 7)
    pos = pos + 8
    local value, scale = 0, 1
    while true do
      local byte = string.byte(bytes, pos)
      pos = pos + 1
      if byte == nil then return count end
      value = value + (byte % 128) * scale
      if byte < 128 then break end
      scale = scale * 128
    end
    visit(fp, value)
    count = count + 1
  end
  return count
end

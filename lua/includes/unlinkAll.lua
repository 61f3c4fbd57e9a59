--[[
  UNLINK `prefix .. suffix` for every suffix of `suffixes`, 1000 keys a command (unpack() of
  more overflows Lua's stack). UNLINK frees memory in the background. Returns the keys deleted.
]]
local function unlinkAll(prefix, suffixes)
  local deleted = 0
  for i = 1, #suffixes, 1000 do
    local keys = {}
    for k = i, math.min(i + 999, #suffixes) do keys[#keys + 1] = prefix .. suffixes[k] end
    deleted = deleted + redis.call("UNLINK", unpack(keys))
  end
  return deleted
end

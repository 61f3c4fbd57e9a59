--[[
  RPUSH every element of `values` to `key`, in chunks: unpack() of more than a few thousand
  values overflows Lua's C stack.
]]
local function pushAll(key, values)
  local chunk = 1000
  for from = 1, #values, chunk do
    local to = math.min(from + chunk - 1, #values)
    redis.call("RPUSH", key, unpack(values, from, to))
  end
end

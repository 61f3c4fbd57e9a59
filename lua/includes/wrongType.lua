--[[
  The first key of `keys` (a list of {key, type}) that holds another type than its `type`
  ("hash", "zset", "string"); a missing key is fine. Nil when all are fine. An apply script checks
  every key it will read or write with it before its first write, so a key someone wrote by hand
  leaves nothing half-written: the script answers {"wrong_type", key} and the consumer names it.
]]
local function wrongType(keys)
  for _, k in ipairs(keys) do
    local t = redis.call("TYPE", k[1])["ok"]
    if t ~= "none" and t ~= k[2] then return k[1] end
  end
  return nil
end

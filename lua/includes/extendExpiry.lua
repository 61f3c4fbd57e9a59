--[[
  Gives `key` a time to live of `ttl` seconds unless it already lives longer (several consumer
  processes with slightly different clocks all set it; the longest wins).
]]
local function extendExpiry(key, ttl)
  if ttl < 1 then ttl = 1 end
  if redis.call("EXPIRE", key, ttl, "NX") == 0 then
    redis.call("EXPIRE", key, ttl, "GT")
  end
end

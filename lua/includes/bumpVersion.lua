--[[
  Sets the projection's version (`key`, STRING; src/redis/keys.ts versionKey), in the same atomic
  call as a write of its figures or its progress, so the API re-reads an answer exactly when it
  may have changed. The version is Redis's time (TIME) in unix microseconds, or the stored version
  + 1 when that is not below it (the clock stepped back, or two calls in one microsecond): it only
  grows while the key is kept. Always Redis's own clock, even when a test pins "now" in ARGV.
  Written as a plain integer ("%.0f", never "1.7e+15"); microseconds since 1970 stay far below
  2^53, exact in a Lua number. A key of another type (written by hand) is replaced: SET takes any
  type, and the call has already written. Returns the version set.
]]
local function bumpVersion(key)
  local time = redis.call("TIME")
  local version = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local current = tonumber(redis.pcall("GET", key))
  if current and current >= version then version = current + 1 end
  local text = string.format("%.0f", version)
  redis.call("SET", key, text)
  return text
end

--[[
  Reads one stored transaction by its hash (group btc-transactions' store). Read-only.
  The dedupe sets are the index: the minutes whose set (for the hash's bucket) holds the hash's
  fingerprint are searched, newest first, for the body whose bytes 2..33 are the hash.

  KEYS[2..3] are prefixes: the minutes are found in KEYS[1].
    KEYS[1] minutes                                   HASH minute (unix s) -> transactions stored
    KEYS[2] list prefix    .. minute                  LIST of bodies
    KEYS[3] dedupe prefix  .. minute .. ":" .. bucket SET of fingerprints

    ARGV[1] the hash, 32 raw bytes
    ARGV[2] dedupe bucket of the hash
    ARGV[3] fingerprint of the hash

  Returns the body, or nil when the transaction is not stored.
]]
local minutesKey = KEYS[1]
local listPrefix = KEYS[2]
local seenPrefix = KEYS[3]

local hash = ARGV[1]
local bucket = ARGV[2]
local fp = ARGV[3]

local minutes = redis.call("HKEYS", minutesKey)
table.sort(minutes, function(x, y) return tonumber(x) > tonumber(y) end)
for _, minute in ipairs(minutes) do
  if redis.call("SISMEMBER", seenPrefix .. minute .. ":" .. bucket, fp) == 1 then
    for _, body in ipairs(redis.call("LRANGE", listPrefix .. minute, 0, -1)) do
      if string.sub(body, 2, 33) == hash then
        return body
      end
    end
  end
end
return false

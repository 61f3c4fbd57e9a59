--[[
  Any group: gives a partition without a position its starting point, so the group replays the
  log from there into an empty projection (the consumer then seeks to the returned position).
  When another process set the position first, that one stands.

    KEYS[1] position    HASH "<topic>:<partition>" -> next offset
    KEYS[2] replay      HASH "<topic>:<partition>:from" -> the offset the replay started at,
                        "<topic>:<partition>:until" -> the log's end when the replay
                        started (the group is catching up until its position reaches it),
                        "<topic>:<partition>:covers_from_ms" -> since when the projection holds
                        the partition's records (older ones were not in the log or not replayed)

    ARGV[1] position field "<topic>:<partition>"
    ARGV[2] the offset to start from
    ARGV[3] the partition's end (high watermark) now
    ARGV[4] covers from, unix ms

  Returns {"started", offset} or, when a position was set meanwhile, {"moved", position}.
]]
local positionKey = KEYS[1]
local replayKey = KEYS[2]
local field = ARGV[1]

local stored = redis.call("HGET", positionKey, field)
if stored then return { "moved", stored } end
redis.call("HSET", positionKey, field, ARGV[2])
redis.call("HSET", replayKey, field .. ":from", ARGV[2], field .. ":until", ARGV[3], field .. ":covers_from_ms", ARGV[4])
return { "started", ARGV[2] }

--[[
  Any group: gives a partition without a position its starting point, so the group replays the
  log from there into an empty projection (the consumer then seeks to the returned position).
  When another process set the position first, that one stands. What the replay hash said of the
  partition before (coverage of a projection that is gone) is cleared. A call that started sets
  the version (includes/bumpVersion.lua); one that answers "moved" writes nothing.

    KEYS[1] position    HASH "<topic>:<partition>" -> next offset
    KEYS[2] replay      HASH, per partition "<topic>:<partition>:<name>":
                          from            the offset the replay started at
                          until           the log's end when the replay started (the group is
                                          catching up until its position reaches it)
                          covers_from_ms  since when (record stamp, unix ms) the projection holds
                                          the partition's records; absent until the consumer
                                          knows (the first record it reads: lua/advanceCoverage-3.lua)
                          through_ms, gaps, marker, error: lua/advanceCoverage-3.lua
    KEYS[3] version     STRING

    ARGV[1] position field "<topic>:<partition>"
    ARGV[2] the offset to start from
    ARGV[3] the partition's end (high watermark) now
    ARGV[4] covers from, unix ms; "" when not known yet

  Returns {"started", offset} or, when a position was set meanwhile, {"moved", position}.
]]
--- @include "bumpVersion"

local positionKey = KEYS[1]
local replayKey = KEYS[2]
local field = ARGV[1]

local stored = redis.call("HGET", positionKey, field)
if stored then return { "moved", stored } end
redis.call("HSET", positionKey, field, ARGV[2])
redis.call("HDEL", replayKey, field .. ":covers_from_ms", field .. ":through_ms", field .. ":gaps", field .. ":marker", field .. ":error")
redis.call("HSET", replayKey, field .. ":from", ARGV[2], field .. ":until", ARGV[3])
if ARGV[4] ~= "" then redis.call("HSET", replayKey, field .. ":covers_from_ms", ARGV[4]) end
bumpVersion(KEYS[3])
return { "started", ARGV[2] }

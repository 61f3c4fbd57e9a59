--[[
  The group's position check, done first by every apply script: the call applies the records of
  one partition from offset `from` (inclusive) and may only do so when the group's position for
  that partition, kept in `positionKey` (HASH "<topic>:<partition>" -> next offset), is `from`.
  Returns nil when the call may go on; otherwise the reply the script must return at once,
  before touching anything:
    {"moved", position}  the projection holds another position (a redelivery, a rebalance, a
                         restored snapshot): the consumer seeks to it;
    {"unset"}            the projection has no position for the partition (a new or emptied
                         Redis, a dropped projection): the consumer starts a replay.
  An empty `field` skips the check (records applied without a log: tests, benchmarks).
]]
local function checkPosition(positionKey, field, from)
  if field == "" then return nil end
  local stored = redis.call("HGET", positionKey, field)
  if stored == from then return nil end
  if stored then return { "moved", stored } end
  return { "unset" }
end

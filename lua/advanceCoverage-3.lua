--[[
  Any group: records what the projection holds of one partition (src/domain/coverage.ts), and
  moves its position past records the log no longer holds, only while the position is still the
  one the consumer expects. A consumer calls it about every second and after a jump; a call made
  after Redis lost the position (FLUSHALL, a restored snapshot, a rebuild) changes nothing, so
  coverage never outlives the projection it describes. A call that changed anything sets the
  version (includes/bumpVersion.lua); one that changed nothing (the same figures again) does not,
  nor one made after the position moved.

    KEYS[1] position    HASH "<topic>:<partition>" -> next offset
    KEYS[2] replay      HASH, per partition "<topic>:<partition>:<name>":
                          through_ms      every record stamped before it is applied (only grows)
                          covers_from_ms  and every record stamped at or after it (set once per replay)
                          gaps            JSON [[from_ms, to_ms], ...]: stamps of records the log lost
                          marker          JSON {"offset", "stamp_ms", "key"}: the last applied record, to
                                          tell this log from a recreated topic on resume
                          error           why the consumer cannot apply (cleared here)
    KEYS[3] version     STRING

    ARGV[1] position field "<topic>:<partition>"
    ARGV[2] the position the consumer expects; nothing is written when Redis holds another
    ARGV[3] new position ("" = unchanged): past records the log lost (below its start)
    ARGV[4] through, unix ms ("" = unchanged)
    ARGV[5] covers from, unix ms ("" = unchanged; set only when absent)
    ARGV[6] gap from, unix ms ("" = no gap): the gap starting there is set to end at ARGV[7]
    ARGV[7] gap to, unix ms
    ARGV[8] forget gaps ending before this, unix ms ("" = keep all)
    ARGV[9] marker ("" = unchanged)
    ARGV[10] "1" clears the error

  Returns 1 when Redis holds the expected position (written, where anything changed), 0 when it
  holds another position (or none).
]]
--- @include "bumpVersion"

local positionKey = KEYS[1]
local replayKey = KEYS[2]
local field = ARGV[1]

if redis.call("HGET", positionKey, field) ~= ARGV[2] then return 0 end
local changed = false

if ARGV[3] ~= "" then
  redis.call("HSET", positionKey, field, ARGV[3])
  redis.call("HDEL", replayKey, field .. ":marker")
  changed = true
end

local throughField = field .. ":through_ms"
if ARGV[4] ~= "" then
  local through = tonumber(redis.call("HGET", replayKey, throughField))
  if not through or through < tonumber(ARGV[4]) then
    redis.call("HSET", replayKey, throughField, ARGV[4])
    changed = true
  end
end

if ARGV[5] ~= "" and redis.call("HSETNX", replayKey, field .. ":covers_from_ms", ARGV[5]) == 1 then changed = true end

if ARGV[6] ~= "" or ARGV[8] ~= "" then
  local gapsField = field .. ":gaps"
  local stored = redis.call("HGET", replayKey, gapsField)
  local gaps = stored and cjson.decode(stored) or {}
  local kept = {}
  local gapFrom, found = tonumber(ARGV[6]), false
  for _, gap in ipairs(gaps) do
    if gapFrom and gap[1] == gapFrom then
      gap[2], found = tonumber(ARGV[7]), true
    end
    if ARGV[8] == "" or gap[2] >= tonumber(ARGV[8]) then kept[#kept + 1] = gap end
  end
  if gapFrom and not found then kept[#kept + 1] = { gapFrom, tonumber(ARGV[7]) } end
  local encoded = #kept > 0 and cjson.encode(kept) or false
  if encoded ~= stored then
    if encoded then
      redis.call("HSET", replayKey, gapsField, encoded)
    else
      redis.call("HDEL", replayKey, gapsField)
    end
    changed = true
  end
end

local markerField = field .. ":marker"
if ARGV[9] ~= "" and redis.call("HGET", replayKey, markerField) ~= ARGV[9] then
  redis.call("HSET", replayKey, markerField, ARGV[9])
  changed = true
end
if ARGV[10] == "1" and redis.call("HDEL", replayKey, field .. ":error") == 1 then changed = true end
if changed then bumpVersion(KEYS[3]) end
return 1

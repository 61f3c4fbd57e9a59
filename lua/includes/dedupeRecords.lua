--[[
  The dedupe step of every apply script, for a whole call. `starts` lists where each record
  starts in ARGV, in order: its hash at ARGV[s], its event time at ARGV[s + 1].
  A record for which `isStale(time)` is true is stale: counted, neither applied nor
  remembered. The group then forgets the hashes in `seenKey` seen with a time before
  `forgetBefore`, and the other records are deduped by hash (markSeen).
  Returns the starts and the times of the fresh records (new to the group; in call order), the
  number of duplicates and the number of stale records.
]]
--- @include "markSeen"
local function dedupeRecords(seenKey, starts, isStale, forgetBefore)
  local hashes, times, at = {}, {}, {}
  local stale = 0
  for _, s in ipairs(starts) do
    local time = tonumber(ARGV[s + 1])
    if isStale(time) then
      stale = stale + 1
    else
      hashes[#hashes + 1], times[#times + 1], at[#at + 1] = ARGV[s], time, s
    end
  end
  redis.call("ZREMRANGEBYSCORE", seenKey, "-inf", "(" .. forgetBefore)
  local fresh = markSeen(seenKey, hashes, times)
  local freshStarts, freshTimes = {}, {}
  for n = 1, #hashes do
    if fresh[n] then
      freshStarts[#freshStarts + 1], freshTimes[#freshTimes + 1] = at[n], times[n]
    end
  end
  return freshStarts, freshTimes, #hashes - #freshStarts, stale
end

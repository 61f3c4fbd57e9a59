--[[
  The dedupe step of every apply script, for a whole call, reading only. `starts` lists where each
  record starts in ARGV, in order: its hash at ARGV[s], its event time at ARGV[s + 1].
  A record for which `isStale(time)` is true is stale: counted, neither applied nor
  remembered. The other records are deduped by hash (markSeen), a hash remembered since before
  `forgetBefore` counting as new. The script writes the new hashes with rememberSeen once every
  check has passed.
  Returns the starts and the times of the fresh records (new to the group; in call order), the
  number of duplicates, the number of stale records, and the fresh hashes.
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
  local fresh, new = markSeen(seenKey, hashes, forgetBefore)
  local freshStarts, freshTimes = {}, {}
  for n = 1, #hashes do
    if fresh[n] then
      freshStarts[#freshStarts + 1], freshTimes[#freshTimes + 1] = at[n], times[n]
    end
  end
  return freshStarts, freshTimes, #hashes - #freshStarts, stale, new
end

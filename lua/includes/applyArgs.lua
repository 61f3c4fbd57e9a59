--[[
  What every apply script (applyCounts, applyAddresses, applyTransactions, applyFees) takes first:
  the group's seen set, position and version are its last three KEYS, and its ARGV begin with
    ARGV[1] now, unix seconds; "" for Redis's clock (includes/clock.lua)
    ARGV[2] position field "<topic>:<partition>"; "" to apply without a position (tests)
    ARGV[3] from: the partition offset the call starts at (the position it expects)
    ARGV[4] to: the position after the call
  Returns now (nil when ARGV[1] is neither "" nor a number), the position field, from, to, the
  seen key (ZSET transaction hash -> event time), the position key (HASH
  "<topic>:<partition>" -> next offset) and the version key (STRING, includes/bumpVersion.lua).
]]
--- @include "clock"
local function applyArgs()
  return clock(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
end

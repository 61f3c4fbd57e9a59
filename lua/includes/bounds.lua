--[[
  The bounds an apply script checks before it writes anything, as a table (MAX_SATOSHI is
  src/domain/transaction.ts's; test/lua-loader.test.ts keeps them in step):
    MAX_SATOSHI   21 million BTC: no output, input or transaction is worth more
    EXACT_DOUBLE  2^53: a sorted-set score (ZINCRBY) is exact only below it
    EXACT_INT64   a HINCRBY sum stays below it: int64's 2^63 - 1, less a margin (about 2.3e16)
                  that absorbs the rounding of the check itself (Lua numbers are doubles)
]]
local function bounds()
  return { MAX_SATOSHI = 2100000000000000, EXACT_DOUBLE = 9007199254740992, EXACT_INT64 = 9200000000000000000 }
end

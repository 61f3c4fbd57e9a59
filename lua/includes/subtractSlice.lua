--[[
  Takes one minute out of the address window: subtracts what the slice of `minute` added to the
  rolling received/sent sets, removes members that reach 0, forgets the names of addresses no
  longer in either set, and deletes the slice.

  A slice is a LIST of chunks, each the side ("r" received, "s" sent) followed by slice records
  (parseSliceRecords). Returns the number of records subtracted.
]]
--- @include "namesBucket"
--- @include "parseSliceRecords"
local function subtractSlice(receivedKey, sentKey, indexKey, slicePrefix, namesPrefix, minute)
  local sliceKey = slicePrefix .. minute
  local chunks = redis.call("LRANGE", sliceKey, 0, -1)
  local sums = { r = {}, s = {} }
  local records = 0
  for _, chunk in ipairs(chunks) do
    local into = sums[string.sub(chunk, 1, 1)]
    if into then
      records = records + parseSliceRecords(chunk, 2, function(fp, value)
        into[fp] = (into[fp] or 0) + value
      end)
    end
  end
  local gone = {}
  for side, rollingKey in pairs({ r = receivedKey, s = sentKey }) do
    for fp, value in pairs(sums[side]) do
      local address = redis.call("HGET", namesPrefix .. namesBucket(fp), fp)
      if address then
        local score = tonumber(redis.call("ZINCRBY", rollingKey, -value, address))
        if score <= 0 then
          redis.call("ZREM", rollingKey, address)
          gone[fp] = address
        end
      end
    end
  end
  for fp, address in pairs(gone) do
    if not redis.call("ZSCORE", receivedKey, address) and not redis.call("ZSCORE", sentKey, address) then
      redis.call("HDEL", namesPrefix .. namesBucket(fp), fp)
    end
  end
  redis.call("DEL", sliceKey)
  redis.call("ZREM", indexKey, minute)
  return records
end

--[[
  Dedupe for a batch: for each candidate i (minute, bucket, fingerprint), whether the group sees
  it for the first time; every fingerprint is then remembered. A group's dedupe set for a minute
  and bucket is the key `seenPrefix .. minute .. ":" .. bucket`; it lives until `keep` seconds
  after its minute starts (its TTL is noted in `ttls`, set once per call by extendExpiries).

  Two round trips to Redis per set touched (SMISMEMBER, SADD), not one per transaction; the same
  fingerprint twice in one batch is a duplicate the second time.
  Returns fresh: fresh[i] is true when candidate i is new.
]]
local function markSeenBatch(seenPrefix, minutes, buckets, fps, keep, now, ttls)
  local groups = {}
  local order = {}
  local fresh = {}
  for i = 1, #fps do
    local key = seenPrefix .. minutes[i] .. ":" .. buckets[i]
    local group = groups[key]
    if not group then
      group = { fps = {}, at = {}, inCall = {} }
      groups[key] = group
      order[#order + 1] = key
      local ttl = minutes[i] + keep - now
      if ttls[key] == nil or ttl > ttls[key] then ttls[key] = ttl end
    end
    local fp = fps[i]
    if group.inCall[fp] then
      fresh[i] = false
    else
      group.inCall[fp] = true
      group.fps[#group.fps + 1] = fp
      group.at[#group.at + 1] = i
    end
  end
  local CHUNK = 1000
  for _, key in ipairs(order) do
    local group = groups[key]
    local new = {}
    for from = 1, #group.fps, CHUNK do
      local to = math.min(from + CHUNK - 1, #group.fps)
      local known = redis.call("SMISMEMBER", key, unpack(group.fps, from, to))
      for k = from, to do
        local isNew = known[k - from + 1] == 0
        fresh[group.at[k]] = isNew
        if isNew then new[#new + 1] = group.fps[k] end
      end
    end
    for from = 1, #new, CHUNK do
      redis.call("SADD", key, unpack(new, from, math.min(from + CHUNK - 1, #new)))
    end
  end
  return fresh
end

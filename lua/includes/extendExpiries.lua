--[[
  extendExpiry for every key -> ttl of `ttls` (the keys a script call touched, each once).
]]
--- @include "extendExpiry"
local function extendExpiries(ttls)
  for key, ttl in pairs(ttls) do
    extendExpiry(key, ttl)
  end
end

--[[
  Where each record starts in ARGV, for records of `fields` arguments each from ARGV[first] on,
  in order; nil when the arguments from `first` do not divide into whole records.
]]
local function recordStarts(first, fields)
  if (#ARGV - first + 1) % fields ~= 0 then return nil end
  local starts = {}
  for i = first, #ARGV, fields do
    starts[#starts + 1] = i
  end
  return starts
end

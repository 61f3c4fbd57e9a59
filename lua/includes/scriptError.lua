--[[
  The error code a script returns, by name: a negative integer the caller turns into a
  ScriptError. The same names and codes as SCRIPT_ERRORS in src/redis/scripts.ts, which says
  what each means (test/lua-loader.test.ts checks that the two tables and the script headers
  agree). A name not in the table is a bug in the script: a Lua error, not a code.
]]
local function scriptError(name)
  local code = ({ BAD_RECORDS = -1, NOT_A_NUMBER = -2, NOT_A_COUNT = -3, OUT_OF_RANGE = -4 })[name]
  if code == nil then error("scriptError: no error named " .. tostring(name)) end
  return code
end

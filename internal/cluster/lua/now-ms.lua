-- The Redis clock in unix ms (inside a script).
if redis.replicate_commands then redis.replicate_commands() end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

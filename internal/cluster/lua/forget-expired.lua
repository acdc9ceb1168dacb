-- (loaded after now-ms.lua, whose helpers it uses)
-- forget. KEYS[1] instances zset; ARGV 1 instanceId. Removes the member if its lease is still
-- expired; 1 when it is gone (removed now or before), 0 when it came back to life.
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return 1 end
if tonumber(s) < nowMs() then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0

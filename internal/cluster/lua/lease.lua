-- (loaded after now-ms.lua, whose helpers it uses)
-- lease refresh. KEYS[1] instances zset; ARGV 1 instanceId, 2 ttl ms. Sets the score to
-- now + ttl; returns {continuous (1 when the previous score existed and had not expired), now}.
local now = nowMs()
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local continuous = 0
if old and tonumber(old) >= now then continuous = 1 end
return { continuous, string.format('%d', now) }

-- (loaded after now-ms.lua, whose helpers it uses)
-- live. KEYS[1] instances zset. Returns {now, member, score...} of unexpired leases.
local now = nowMs()
local out = { string.format('%d', now) }
local all = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
for j = 1, #all do out[#out + 1] = all[j] end
return out

-- (loaded after now-ms.lua, whose helpers it uses)
-- view. KEYS[1] instances zset. Returns {now, member, score, member, score...} (every member).
local out = { string.format('%d', nowMs()) }
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for j = 1, #all do out[#out + 1] = all[j] end
return out

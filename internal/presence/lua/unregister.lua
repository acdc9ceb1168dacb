-- (loaded after common.lua, whose helpers it uses)
-- unregister. KEYS[1] user hash; ARGV 1 field, 2 epoch. Deletes the field only when its epoch matches; 1/0.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local s = decode(v)
if s == nil or s.e ~= tonumber(ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
dropIfEmpty(KEYS[1])
return 1

-- (loaded after common.lua, whose helpers it uses)
-- reRegister. KEYS[1] user hash; ARGV 1 field, 2 entry JSON, 3 epoch. Writes the entry when the
-- field is absent or holds an older epoch; raises `#epoch` to at least the epoch. 1 written / 0.
local key, field, e = KEYS[1], ARGV[1], tonumber(ARGV[3])
local c = tonumber(redis.call('HGET', key, '#epoch') or '0') or 0
if c < e then redis.call('HSET', key, '#epoch', ARGV[3]) end
local cur = redis.call('HGET', key, field)
if cur then
  local s = decode(cur)
  if s ~= nil and s.e >= e then return 0 end
end
redis.call('HSET', key, field, ARGV[2])
return 1

-- (loaded after common.lua, whose helpers it uses)
-- purge (sweep, shutdown). KEYS[1] user hash; ARGV 1 instanceId. Deletes that instance's entries; returns how many.
local raw = redis.call('HGETALL', KEYS[1])
local n = 0
for j = 1, #raw, 2 do
  local f = raw[j]
  if not reserved(f) then
    local s = decode(raw[j + 1])
    if s ~= nil and s.i == ARGV[1] then
      redis.call('HDEL', KEYS[1], f)
      n = n + 1
    end
  end
end
if n > 0 then dropIfEmpty(KEYS[1]) end
return n

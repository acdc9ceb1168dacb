-- (loaded after now-ms.lua, whose helpers it uses)
-- expired. KEYS[1] instances zset. The members whose lease expired (score < now).
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. nowMs())

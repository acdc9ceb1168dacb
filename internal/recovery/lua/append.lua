-- append: allocates the next seq of one stream and stores the push.
-- KEYS[1] the stream's meta hash (e = epoch, s = last seq), KEYS[2] the stream (XADD entries
-- f = frame, l = filter, t = unix ms), KEYS[3] the idempotency key (same slot).
-- ARGV 1 frame without its closing brace, 2 filter, 3 history size, 4 ttl ms, 5 idempotency key
-- ('' = none), 6 the epoch to use when the stream is new.
-- Returns the seq. A stream whose meta is gone starts again at 1 under the new epoch.
if redis.replicate_commands then redis.replicate_commands() end
if ARGV[5] ~= '' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return tonumber(seen) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'e', ARGV[6], 's', 0)
  redis.call('DEL', KEYS[2])
end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], seq .. '-1', 'f', ARGV[1] .. ',"seq":' .. seq .. '}', 'l', ARGV[2], 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], seq, 'PX', 60000) end
return seq

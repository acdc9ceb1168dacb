-- recover: the stream's epoch and last seq, and the entries after a position when all are held.
-- KEYS[1] meta hash, KEYS[2] stream.
-- ARGV 1 since ('' = none asked), 2 the epoch the client holds, 3 ttl ms, 4 the epoch to use when
-- the stream is new.
-- Returns {epoch, lastSeq, 'none'} | {epoch, lastSeq, 'no'} | {epoch, lastSeq, 'yes', frame, filter, ...}
if redis.replicate_commands then redis.replicate_commands() end
local e = redis.call('HGET', KEYS[1], 'e')
if not e then
  e = ARGV[4]
  redis.call('HSET', KEYS[1], 'e', e, 's', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('DEL', KEYS[2])
end
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
if ARGV[1] == '' then return { e, s, 'none' } end
local since = tonumber(ARGV[1])
if ARGV[2] ~= e or since == nil or since > s or since < 0 then return { e, s, 'no' } end
if since == s then return { e, s, 'yes' } end
local t = redis.call('TIME')
local oldest = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
local entries = redis.call('XRANGE', KEYS[2], (since + 1) .. '-1', '+')
if #entries ~= s - since then return { e, s, 'no' } end
local out = { e, s, 'yes' }
for _, en in ipairs(entries) do
  local fields = en[2]
  local f, l, at = nil, '', 0
  for j = 1, #fields, 2 do
    if fields[j] == 'f' then f = fields[j + 1] elseif fields[j] == 'l' then l = fields[j + 1] elseif fields[j] == 't' then at = tonumber(fields[j + 1]) end
  end
  if f == nil or at < oldest then return { e, s, 'no' } end
  out[#out + 1] = f
  out[#out + 1] = l
end
return out

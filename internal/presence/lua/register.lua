-- (loaded after common.lua, whose helpers it uses)
-- register: the multi-device policy and the registration, atomically, on one user hash.
-- A port of `decide()` (internal/policy/policy.ts): same device -> victim `same_device` (always);
-- same slot -> victim `policy` (kick_old) or rejection with nothing changed (reject_new);
-- then `maxConnectionsPerUser` evicts the oldest (connectedAt, then epoch) -> `max_connections`.
-- Victims are ordered same_device, policy, max_connections, each oldest first.
-- 
-- KEYS[1] user hash.
-- ARGV: 1 field, 2 platform, 3 instanceId of the login, 4 entry JSON up to `"e":`, 5 entry JSON
-- after the epoch, 6 policy, 7 maxConnectionsPerUser (0 = unlimited), 8 onConflict,
-- 9 strict ('1': an entry of an instance in neither list counts as dead), 10 the registering
-- instance (always live), 11 n dead instances, then those ids, then n live instances, then
-- those ids.
-- Returns {'admit', epoch, purged, (field, reason, json)...}
-- | {'reject', purged, (field, json)...}   (conflicts, oldest first)
-- | {'unknown', instanceId}                (nothing changed; refresh the view, call strict)
-- Entries of dead instances and undecodable entries are deleted (`purged` counts them).
if redis.replicate_commands then redis.replicate_commands() end -- TIME before writes (Redis < 5)
local key = KEYS[1]
local field, platform, inst, prefix, suffix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local policy, maxc, mode, strict = ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9] == '1'
local known = {}
local a = 12
for _ = 1, tonumber(ARGV[11]) do known[ARGV[a]] = false; a = a + 1 end
local nlive = tonumber(ARGV[a]); a = a + 1
for _ = 1, nlive do known[ARGV[a]] = true; a = a + 1 end
known[ARGV[10]] = true
known[inst] = true

local CLASS = { ios = 'mobile', android = 'mobile', windows = 'desktop', macos = 'desktop', linux = 'desktop',
  ipad = 'pad', apad = 'pad', web = 'web', miniweb = 'miniweb' }
local function slot(p)
  if policy == 'allow_all' then return nil end
  if policy == 'one_per_platform' then return 'platform:' .. p end
  local c = CLASS[p] or 'undefined'
  if policy == 'one_per_class' then return 'class:' .. c end
  if policy == 'pc_and_one_other' then
    if c == 'desktop' then return nil end
    return 'other'
  end
  if policy == 'single_session' then return 'user' end
  return error('unknown policy ' .. tostring(policy))
end
local function older(x, y)
  if x.t ~= y.t then return x.t < y.t end
  return x.e < y.e
end

local want = slot(platform)
local raw = redis.call('HGETALL', key)
local same, conflicts, rest, purge = {}, {}, {}, {}
for j = 1, #raw, 2 do
  local f, v = raw[j], raw[j + 1]
  if not reserved(f) then
    local s = decode(v)
    if s == nil then
      purge[#purge + 1] = f
    else
      s.f = f
      s.v = v
      local live = known[s.i]
      if live == false or (live == nil and strict) then
        purge[#purge + 1] = f
      elseif live == nil then
        return { 'unknown', s.i }
      elseif f == field then
        same[#same + 1] = s
      elseif want ~= nil and slot(s.p) == want then
        conflicts[#conflicts + 1] = s
      else
        rest[#rest + 1] = s
      end
    end
  end
end
for _, f in ipairs(purge) do redis.call('HDEL', key, f) end

if #conflicts > 0 and mode == 'reject_new' then
  table.sort(conflicts, older)
  local out = { 'reject', tostring(#purge) }
  for _, s in ipairs(conflicts) do
    out[#out + 1] = s.f
    out[#out + 1] = s.v
  end
  if #purge > 0 then dropIfEmpty(key) end
  return out
end

local victims = {}
table.sort(same, older)
for _, s in ipairs(same) do victims[#victims + 1] = { s, 'same_device' } end
table.sort(conflicts, older)
for _, s in ipairs(conflicts) do victims[#victims + 1] = { s, 'policy' } end
if maxc > 0 and #rest > 0 then
  local excess = #rest + 1 - maxc
  if excess > 0 then
    table.sort(rest, older)
    local n = math.min(math.ceil(excess), #rest)
    for k = 1, n do victims[#victims + 1] = { rest[k], 'max_connections' } end
  end
end
for _, v in ipairs(victims) do redis.call('HDEL', key, v[1].f) end

if redis.call('HEXISTS', key, '#epoch') == 0 then
  local now = redis.call('TIME')
  redis.call('HSET', key, '#epoch', string.format('%d', tonumber(now[1]) * 1000000 + tonumber(now[2])))
end
local epoch = redis.call('HINCRBY', key, '#epoch', 1)
local es = string.format('%d', epoch)
redis.call('HSET', key, field, prefix .. es .. suffix)

local out = { 'admit', es, tostring(#purge) }
for _, v in ipairs(victims) do
  out[#out + 1] = v[1].f
  out[#out + 1] = v[2]
  out[#out + 1] = v[1].v
end
return out

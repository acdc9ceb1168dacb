-- Shared Lua helpers: reserved fields, entry decoding, deleting a user key left with no device.
local function reserved(f)
  return string.sub(f, 1, 1) == '#' and string.sub(f, 2, 2) ~= '#'
end
local function decode(v)
  local ok, d = pcall(cjson.decode, v)
  if not ok or type(d) ~= 'table' or type(d.i) ~= 'string' or type(d.p) ~= 'string' then return nil end
  local e, t = tonumber(d.e), tonumber(d.t)
  if e == nil or t == nil then return nil end
  return { p = d.p, i = d.i, e = e, t = t }
end
local function dropIfEmpty(key)
  local n = redis.call('HLEN', key)
  if n == 0 or (n == 1 and redis.call('HEXISTS', key, '#epoch') == 1) then redis.call('DEL', key) end
end

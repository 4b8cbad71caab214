-- webhook_claim: ARGV prefix, relay, app, batch size, batch window (ms). Returns the app's
-- batch not yet done: {'batch', id, time ms, events as a JSON array}; a new one is made of
-- the first events of the app's stream (removed from it) once they are batch size many or
-- the first is a window old. Else {'wait', ms until the first event is a window old}, or
-- {'none'} when the app has nothing (it leaves {prefix}:wh:apps).
local app, size, window = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local bk, sk = app_key(app) .. ':wh:batch', app_key(app) .. ':wh'
local b = redis.call('HMGET', bk, 'id', 'time', 'events')
if b[1] then
  return { 'batch', b[1], b[2], b[3] }
end
local entries = redis.call('XRANGE', sk, '-', '+', 'COUNT', size)
if #entries == 0 then
  redis.call('DEL', sk)
  redis.call('SREM', P .. ':wh:apps', app)
  return { 'none' }
end
local now = now_ms()
local first = tonumber(string.match(entries[1][1], '^(%d+)'))
if #entries < size and now - first < window then
  return { 'wait', string.format('%d', first + window - now) }
end
local ids, evs = {}, {}
for i, e in ipairs(entries) do
  ids[i] = e[1]
  evs[i] = e[2][2] -- the fields are {'e', event}
end
redis.call('XDEL', sk, unpack(ids))
if redis.call('XLEN', sk) == 0 then
  redis.call('DEL', sk)
end
local id = string.format('%d-%d', now, redis.call('INCR', P .. ':wh:seq'))
local time = string.format('%d', now)
local events = '[' .. table.concat(evs, ',') .. ']'
redis.call('HSET', bk, 'id', id, 'time', time, 'events', events)
return { 'batch', id, time, events }

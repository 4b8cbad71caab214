-- reap: ARGV prefix, dead node, batch size. Removes up to batch of the node's subscriptions,
-- and once none are left its connection counts and its entry in {prefix}:nodes. Returns
-- {status, app, channel, user, app, channel, user, ...}: status 0 = the node holds a lease
-- (nothing done), 1 = more to reap, 2 = done; each triple is a presence user whose last
-- connection on the channel was on the node. SPOP hands each subscription to one reaper
-- only, so racing reapers report each user once.
local node, batch = ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', P .. ':lease:' .. node) == 1 then
  return { 0 }
end
local out = { 1 }
local socks = node_key(node, 'socks')
for _, item in ipairs(redis.call('SPOP', socks, batch)) do
  local a = string.find(item, '\0', 1, true)
  local b = string.find(item, '\0', a + 1, true)
  local app, channel = string.sub(item, 1, a - 1), string.sub(item, a + 1, b - 1)
  local r = remove_socket(app, channel, string.sub(item, b + 1))
  if r and r[2] == 1 then
    out[#out + 1] = app
    out[#out + 1] = channel
    out[#out + 1] = r[1]
  end
end
if redis.call('SCARD', socks) == 0 then
  local conns = node_key(node, 'conns')
  for _, app in ipairs(redis.call('HKEYS', conns)) do
    redis.call('HDEL', app_key(app) .. ':conns', node)
  end
  redis.call('DEL', conns)
  redis.call('SREM', P .. ':nodes', node)
  out[1] = 2
end
return out

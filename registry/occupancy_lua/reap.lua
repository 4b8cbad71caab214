-- reap: ARGV prefix, relay, dead node, batch size, force ("1": the node itself leaving, whatever its
-- lease), n, then n app ids whose subscription counts are published, then the webhook apps
-- (see hook_apps). Removes up to batch of the node's subscriptions,
-- then of its connection records, and once none are left its entry in {prefix}:nodes. The
-- node's state marker goes at once, so the node, should it come back, knows to write its
-- state again. Returns {status, app, channel, user, app, channel, user, ...}: status 0 = the
-- node holds a lease (nothing done), 1 = more to reap, 2 = done; each triple is a presence
-- user whose last connection on the channel was on the node, whose member_removed is told.
-- Channels it leaves empty wait for their vacated re-check.
-- SPOP hands each entry to one reaper only, so racing reapers tell each user once.
local node, batch = ARGV[3], tonumber(ARGV[4])
hook_apps(count_apps(6))
if ARGV[5] ~= '1' and redis.call('EXISTS', P .. ':lease:' .. node) == 1 then
  return { 0 }
end
redis.call('DEL', node_key(node, 'state'))
local out = { 1 }
local socks = node_key(node, 'socks')
local popped = redis.call('SPOP', socks, batch)
for _, item in ipairs(popped) do
  local app, channel, socket = split_item(item)
  local r = remove_socket(app, channel, socket)
  if r and r[2] == 1 then
    out[#out + 1] = app
    out[#out + 1] = channel
    out[#out + 1] = r[1]
  end
end
local sockets = node_key(node, 'sockets')
if #popped < batch then
  for _, item in ipairs(redis.call('SPOP', sockets, batch - #popped)) do
    local app, socket = split_item(item)
    remove_connection(app, socket, node)
  end
end
if redis.call('SCARD', socks) == 0 and redis.call('SCARD', sockets) == 0 then
  redis.call('SREM', P .. ':nodes', node)
  out[1] = 2
end
tell_counts()
return out

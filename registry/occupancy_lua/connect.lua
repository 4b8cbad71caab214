-- connect: ARGV prefix, relay, node, app, socket, max, lease ttl (ms). Records the socket as
-- an open connection of node. Returns 1, or 0 when the app already has max connections
-- (nothing is recorded). A socket already recorded is not counted again.
local node, app, socket, max, ttl = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local sockets = app_key(app) .. ':sockets'
if max > 0 and redis.call('HEXISTS', sockets, socket) == 0 and redis.call('HLEN', sockets) >= max then
  return 0
end
ensure_node(node, ttl)
redis.call('HSET', sockets, socket, node)
redis.call('SADD', node_key(node, 'sockets'), app .. '\0' .. socket)
return 1

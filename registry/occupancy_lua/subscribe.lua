-- subscribe: ARGV prefix, node, app, channel, socket, lease ttl (ms), max members (0: no
-- limit)[, user id, member]. Returns 1 when it is the user's first connection on the presence
-- channel, -1 when that user would pass max members (nothing is recorded), else 0.
local node, app, channel, socket, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local max_members = tonumber(ARGV[7])
local user, member = ARGV[8], ARGV[9]
local socks = ch_key(app, channel, 'socks')
if redis.call('HEXISTS', socks, socket) == 1 then
  return 0
end
local users = ch_key(app, channel, 'users')
if user and max_members > 0 and redis.call('HEXISTS', users, user) == 0
    and redis.call('HLEN', users) >= max_members then
  return -1
end
ensure_node(node, ttl)
local v = node
if user then
  v = node .. '\0' .. user
end
redis.call('HSET', socks, socket, v)
redis.call('SADD', app_key(app) .. ':channels', channel)
redis.call('SADD', node_key(node, 'socks'), app .. '\0' .. channel .. '\0' .. socket)
if user and redis.call('HINCRBY', users, user, 1) == 1 then
  redis.call('HSET', ch_key(app, channel, 'members'), user, member)
  redis.call('ZADD', ch_key(app, channel, 'order'), redis.call('INCR', P .. ':seq'), user)
  return 1
end
return 0

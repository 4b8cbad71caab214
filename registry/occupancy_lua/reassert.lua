-- reassert: ARGV prefix, node, lease ttl (ms), number of apps n, then n pairs (app, connection
-- count), then one sextuple per subscription (app, channel, socket, presence "1" or "", user
-- id, member). Makes the store hold exactly these connections and subscriptions for node,
-- keeping what already matches (so join order survives) and announcing nothing.
local node, ttl, napps = ARGV[2], ARGV[3], tonumber(ARGV[4])
ensure_node(node, ttl)

local nconns = node_key(node, 'conns')
for _, app in ipairs(redis.call('HKEYS', nconns)) do
  redis.call('HDEL', app_key(app) .. ':conns', node)
end
redis.call('DEL', nconns)
for i = 5, 4 + 2 * napps, 2 do
  local app, n = ARGV[i], tonumber(ARGV[i + 1])
  if n > 0 then
    redis.call('HSET', app_key(app) .. ':conns', node, n)
    redis.call('HSET', nconns, app, n)
  end
end

local wanted = {}
for i = 5 + 2 * napps, #ARGV, 6 do
  local app, channel, socket = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local v = node
  if ARGV[i + 3] == '1' then
    v = node .. '\0' .. ARGV[i + 4]
  end
  local item = app .. '\0' .. channel .. '\0' .. socket
  wanted[item] = true
  local socks = ch_key(app, channel, 'socks')
  local cur = redis.call('HGET', socks, socket)
  if cur and cur ~= v then
    remove_socket(app, channel, socket)
    cur = nil
  end
  if not cur then
    redis.call('HSET', socks, socket, v)
    redis.call('SADD', app_key(app) .. ':channels', channel)
    redis.call('SADD', node_key(node, 'socks'), item)
    if ARGV[i + 3] == '1' then
      local user = ARGV[i + 4]
      if redis.call('HINCRBY', ch_key(app, channel, 'users'), user, 1) == 1 then
        redis.call('HSET', ch_key(app, channel, 'members'), user, ARGV[i + 5])
        redis.call('ZADD', ch_key(app, channel, 'order'), redis.call('INCR', P .. ':seq'), user)
      end
    end
  end
end

for _, item in ipairs(redis.call('SMEMBERS', node_key(node, 'socks'))) do
  if not wanted[item] then
    local a = string.find(item, '\0', 1, true)
    local b = string.find(item, '\0', a + 1, true)
    local r = remove_socket(string.sub(item, 1, a - 1), string.sub(item, a + 1, b - 1), string.sub(item, b + 1))
    if not r then
      redis.call('SREM', node_key(node, 'socks'), item)
    end
  end
end
return 1

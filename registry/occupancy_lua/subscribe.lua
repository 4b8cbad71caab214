-- subscribe: ARGV prefix, relay, node, app, channel, socket, lease ttl (ms), max members (0:
-- no limit), count ("1": the app's subscription counts are published), the webhook apps
-- (see hook_apps: none, or the app)[, user id, member].
-- Returns {-1} when the user would pass max members (nothing is
-- recorded), else {first, seq, members...}: first is 1 when it is the user's first connection
-- on the presence channel (its member_added is told, except to socket), else 0; on a presence
-- channel seq and the encoded members in join order are the member list after the subscribe,
-- as of the member event numbered seq.
local node, app, channel, socket, ttl = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local max_members = tonumber(ARGV[8])
if ARGV[9] == '1' then
  COUNTED[app] = true
end
local i = hook_apps(10)
local user, member = ARGV[i], ARGV[i + 1]
local socks = ch_key(app, channel, 'socks')
local users = ch_key(app, channel, 'users')
local first = 0
if redis.call('HEXISTS', socks, socket) == 0 then
  if user and max_members > 0 and redis.call('HEXISTS', users, user) == 0
      and redis.call('HLEN', users) >= max_members then
    return { -1 }
  end
  ensure_node(node, ttl)
  local v = node
  if user then
    v = node .. '\0' .. user
  end
  redis.call('HSET', socks, socket, v)
  hook_filled(app, channel)
  count_changed(app, channel)
  redis.call('SADD', app_key(app) .. ':channels', channel)
  redis.call('SADD', node_key(node, 'socks'), app .. '\0' .. channel .. '\0' .. socket)
  if user and redis.call('HINCRBY', users, user, 1) == 1 then
    redis.call('HSET', ch_key(app, channel, 'members'), user, member)
    redis.call('ZADD', ch_key(app, channel, 'order'), redis.call('INCR', P .. ':seq'), user)
    tell_member(app, channel, user, member, socket)
    first = 1
  end
end
tell_counts()
if not user then
  return { first, 0 }
end
local out = { first, string.format('%d', seq_of(app, channel)) }
for _, m in ipairs(members_in_order(app, channel)) do
  out[#out + 1] = m
end
return out

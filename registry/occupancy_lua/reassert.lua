-- reassert: ARGV prefix, relay, node, lease ttl (ms), n, n app ids whose subscription counts
-- are published, the webhook apps (see hook_apps), then for each socket: app, socket, connected
-- ("1" or ""), n, and n quadruples (channel, presence "1" or "", user id, member). One batch
-- of a node writing its state back: the store comes to hold these sockets as the node has
-- them (a connection record exactly when connected; each subscription listed). What already
-- matches is left alone, so members keep their join order; a subscription the store holds
-- under another value is replaced. Subscriptions the node no longer has are removed by
-- reassert_remove. Each member change it makes is told (member_added for a user whose first
-- connection on the channel it adds, member_removed for one whose last it removes), and
-- returned as quintuples {"+" or "-", app, channel, user id, member or ""}.
local node, ttl = ARGV[3], ARGV[4]
ensure_node(node, ttl)
local out = {}
local function change(kind, app, channel, user, member)
  out[#out + 1] = kind
  out[#out + 1] = app
  out[#out + 1] = channel
  out[#out + 1] = user
  out[#out + 1] = member
end
local i = hook_apps(count_apps(5))
while i <= #ARGV do
  local app, socket, connected, n = ARGV[i], ARGV[i + 1], ARGV[i + 2] == '1', tonumber(ARGV[i + 3])
  i = i + 4
  if connected then
    redis.call('HSET', app_key(app) .. ':sockets', socket, node)
    redis.call('SADD', node_key(node, 'sockets'), app .. '\0' .. socket)
  else
    remove_connection(app, socket, node)
  end
  for _ = 1, n do
    local channel, presence, user, member = ARGV[i], ARGV[i + 1] == '1', ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local v = node
    if presence then
      v = node .. '\0' .. user
    end
    local socks = ch_key(app, channel, 'socks')
    local cur = redis.call('HGET', socks, socket)
    if cur and cur ~= v then
      local r = remove_socket(app, channel, socket)
      if r and r[2] == 1 then
        change('-', app, channel, r[1], '')
      end
      cur = nil
    end
    redis.call('SADD', node_key(node, 'socks'), app .. '\0' .. channel .. '\0' .. socket)
    if not cur then
      redis.call('HSET', socks, socket, v)
      hook_filled(app, channel)
      count_changed(app, channel)
      redis.call('SADD', app_key(app) .. ':channels', channel)
      if presence and redis.call('HINCRBY', ch_key(app, channel, 'users'), user, 1) == 1 then
        redis.call('HSET', ch_key(app, channel, 'members'), user, member)
        redis.call('ZADD', ch_key(app, channel, 'order'), redis.call('INCR', P .. ':seq'), user)
        tell_member(app, channel, user, member, '')
        change('+', app, channel, user, member)
      end
    end
  end
end
tell_counts()
return out

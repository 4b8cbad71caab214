-- Helpers shared by every occupancy script (prepended to each). ARGV[1] is always the key
-- prefix and ARGV[2] the pub/sub channel of the relay ('' for none); KEYS[1] is
-- {prefix}:nodes, only so that a cluster client routes the script to the prefix's slot. Every
-- other key is built here from the prefix, so in Redis Cluster the prefix must be a hash tag
-- such as "{reverbd}".
local P, PUB = ARGV[1], ARGV[2]

-- app_key is the key part of an app: its id with '%' and ':' escaped, so that app ids cannot
-- make two keys collide.
local function app_key(app)
  local esc = string.gsub(app, '[%%:]', { ['%'] = '%25', [':'] = '%3A' })
  return P .. ':app:' .. esc
end

local function ch_key(app, channel, suffix)
  return app_key(app) .. ':ch:' .. channel .. ':' .. suffix
end

local function node_key(node, suffix)
  return P .. ':node:' .. node .. ':' .. suffix
end

-- ensure_node makes sure a node that writes state holds a lease and is listed, so that the
-- reaper finds its state if it dies before its first renewal.
local function ensure_node(node, ttl)
  redis.call('SET', P .. ':lease:' .. node, '1', 'PX', ttl, 'NX')
  redis.call('SADD', P .. ':nodes', node)
end

-- Webhook decisions (see RedisWebhookFeed). HOOKS maps each app that takes webhook events
-- to the types it takes, a letter each: o channel_occupied, v channel_vacated, a
-- member_added, r member_removed, c subscription_count. Each script fills it from its
-- arguments (hook_apps); an app not in it costs nothing. HOOK_DELAY is the vacated delay in
-- ms. An event decided here is appended to the app's stream in the same script as the
-- decision, so it is neither lost nor decided twice.
local HOOKS, HOOK_DELAY = {}, 0
-- HOOK_MAX bounds each app's stream of events (XADD MAXLEN ~) so that Redis cannot grow
-- without a sender: past it the oldest events go. It matches webhookQueueMax in Go.
local HOOK_MAX = 10000

-- hook_apps fills HOOKS from ARGV[i], the number of apps that follow; when it is not 0,
-- ARGV[i + 1] is the vacated delay (ms), then come pairs of app id and its letters. It
-- returns the index after them.
local function hook_apps(i)
  local n = tonumber(ARGV[i])
  if n == 0 then
    return i + 1
  end
  HOOK_DELAY = tonumber(ARGV[i + 1])
  for j = i + 2, i + 2 * n, 2 do
    HOOKS[ARGV[j]] = ARGV[j + 1]
  end
  return i + 2 + 2 * n
end

-- wants reports whether app takes the webhook events of letter t.
local function wants(app, t)
  local f = HOOKS[app]
  return f ~= nil and string.find(f, t, 1, true) ~= nil
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- hook appends the webhook event ev (a table with Go's WebhookEvent fields) to app's stream.
local function hook(app, ev)
  redis.call('XADD', app_key(app) .. ':wh', 'MAXLEN', '~', HOOK_MAX, '*', 'e', cjson.encode(ev))
  redis.call('SADD', P .. ':wh:apps', app)
end

-- hook_filled decides channel_occupied when channel just got its first subscriber, unless
-- the channel emptied less than the vacated delay ago: that re-check is cancelled and
-- nothing is told (a page reload).
local function hook_filled(app, channel)
  if not (wants(app, 'o') or wants(app, 'v')) or redis.call('HLEN', ch_key(app, channel, 'socks')) ~= 1 then
    return
  end
  if redis.call('ZREM', P .. ':wh:vacate', app .. '\0' .. channel) == 1 then
    return
  end
  if wants(app, 'o') then
    hook(app, { name = 'channel_occupied', channel = channel })
  end
end

-- hook_emptied notes that channel just lost its last subscriber: the feed's sender checks
-- it again once the vacated delay is over and decides channel_vacated if it is still empty.
local function hook_emptied(app, channel)
  if wants(app, 'o') or wants(app, 'v') then
    redis.call('ZADD', P .. ':wh:vacate', now_ms() + HOOK_DELAY, app .. '\0' .. channel)
  end
end

-- hook_count decides the subscription_count n of channel, just changed: at once, unless the
-- channel's last one was decided less than a second ago; then the sender decides the latest
-- count once that second is over.
local function hook_count(app, channel, n)
  local counts, m = P .. ':wh:counts', app .. '\0' .. channel
  if redis.call('ZSCORE', counts, m) then
    return
  end
  local k = ch_key(app, channel, 'whcount')
  if redis.call('SET', k, '1', 'PX', 1000, 'NX') then
    hook(app, { name = 'subscription_count', channel = channel, subscription_count = n })
  else
    redis.call('ZADD', counts, now_ms() + math.max(redis.call('PTTL', k), 0), m)
  end
end

-- next_number returns the next number of the counter at key k. The numbers follow each
-- other; the first is the clock in microseconds, so they keep growing when the key went (its
-- channel emptied, or Redis lost it).
local function next_number(k)
  if redis.call('EXISTS', k) == 1 then
    return redis.call('INCR', k)
  end
  local t = redis.call('TIME')
  local n = tonumber(t[1]) * 1000000 + tonumber(t[2])
  redis.call('SET', k, string.format('%d', n))
  return n
end

-- next_seq returns the next member event sequence number of channel.
local function next_seq(app, channel)
  return next_number(ch_key(app, channel, 'mseq'))
end

-- seq_of returns the sequence number of channel's last member event, or 0.
local function seq_of(app, channel)
  return tonumber(redis.call('GET', ch_key(app, channel, 'mseq')) or '0')
end

-- tell_member numbers a member event and publishes it to every node, in the same step as
-- the decision, so every node hears a channel's member events in the order they were made
-- (and decides its member_added or member_removed webhook event):
-- member_added of member (the encoded member) when member is set, else member_removed of
-- user, whose encoded member gone was (false when it is not known: the members then tell
-- user_id as a string); except is the socket not told, or ''. The message is the relay's
-- (jobs.RedisRelay).
local function tell_member(app, channel, user, member, except, gone)
  local seq = next_seq(app, channel)
  if PUB ~= '' then
    local msg = '{"k":"member","a":' .. cjson.encode(app) .. ',"c":' .. cjson.encode(channel) ..
      ',"u":' .. cjson.encode(user) .. ',"s":' .. string.format('%d', seq)
    if except ~= '' then
      msg = msg .. ',"x":' .. cjson.encode(except)
    end
    if member then
      msg = msg .. ',"m":' .. member
    elseif gone then
      msg = msg .. ',"r":' .. gone
    end
    redis.call('PUBLISH', PUB, msg .. '}')
  end
  if member then
    if wants(app, 'a') then
      hook(app, { name = 'member_added', channel = channel, user_id = user })
    end
  elseif wants(app, 'r') then
    hook(app, { name = 'member_removed', channel = channel, user_id = user })
  end
  return seq
end

-- COUNTED holds the apps whose subscription counts are published (each script fills it
-- from its arguments); counted lists the non-presence channels of those apps, and of the
-- apps taking subscription_count webhook events, whose count the script changed, each
-- once, for tell_counts.
local COUNTED, counted, counted_seen = {}, {}, {}

-- count_changed notes that the subscription count of channel changed.
local function count_changed(app, channel)
  if not ((PUB ~= '' and COUNTED[app]) or wants(app, 'c')) or string.sub(channel, 1, 9) == 'presence-' then
    return
  end
  local k = app .. '\0' .. channel
  if not counted_seen[k] then
    counted_seen[k] = true
    counted[#counted + 1] = { app, channel }
  end
end

-- tell_counts publishes, to every node, the subscription count of each channel noted by
-- count_changed, as it is at the end of the script, and decides its subscription_count
-- webhook event. The message is the relay's "count" (jobs.RedisRelay).
local function tell_counts()
  for _, c in ipairs(counted) do
    local n = redis.call('HLEN', ch_key(c[1], c[2], 'socks'))
    if PUB ~= '' and COUNTED[c[1]] then
      redis.call('PUBLISH', PUB, '{"k":"count","a":' .. cjson.encode(c[1]) .. ',"c":' .. cjson.encode(c[2]) ..
        ',"s":' .. string.format('%d', n) .. '}')
    end
    if wants(c[1], 'c') then
      hook_count(c[1], c[2], n)
    end
  end
end

-- count_apps fills COUNTED from ARGV[i], the number of app ids that follow, and returns the
-- index after them.
local function count_apps(i)
  local n = tonumber(ARGV[i])
  for j = i + 1, i + n do
    COUNTED[ARGV[j]] = true
  end
  return i + n + 1
end

-- members_in_order returns the encoded members of a presence channel in join order.
local function members_in_order(app, channel)
  local members = ch_key(app, channel, 'members')
  local out = {}
  for _, user in ipairs(redis.call('ZRANGE', ch_key(app, channel, 'order'), 0, -1)) do
    local m = redis.call('HGET', members, user)
    if m then
      out[#out + 1] = m
    end
  end
  return out
end

-- remove_socket removes socket from channel. It returns nil for an unknown socket, else
-- {user id or '', 1 when it was the user's last connection on the channel else 0}; a last
-- connection's member_removed is told, and a channel left empty waits for its vacated
-- re-check.
local function remove_socket(app, channel, socket)
  local socks = ch_key(app, channel, 'socks')
  local v = redis.call('HGET', socks, socket)
  if not v then
    return nil
  end
  redis.call('HDEL', socks, socket)
  count_changed(app, channel)
  local node, user = v, nil
  local sep = string.find(v, '\0', 1, true)
  if sep then
    node, user = string.sub(v, 1, sep - 1), string.sub(v, sep + 1)
  end
  redis.call('SREM', node_key(node, 'socks'), app .. '\0' .. channel .. '\0' .. socket)
  local users = ch_key(app, channel, 'users')
  local last = 0
  if user then
    if redis.call('HINCRBY', users, user, -1) <= 0 then
      local members = ch_key(app, channel, 'members')
      local gone = redis.call('HGET', members, user)
      redis.call('HDEL', users, user)
      redis.call('HDEL', members, user)
      redis.call('ZREM', ch_key(app, channel, 'order'), user)
      tell_member(app, channel, user, nil, '', gone)
      last = 1
    end
  end
  if redis.call('HLEN', socks) == 0 then
    hook_emptied(app, channel)
    redis.call('SREM', app_key(app) .. ':channels', channel)
    redis.call('DEL', users, ch_key(app, channel, 'members'), ch_key(app, channel, 'order'),
      ch_key(app, channel, 'mseq'))
  end
  return { user or '', last }
end

-- split_item splits a node set item, "a\0b" or "a\0b\0c", into its parts.
local function split_item(item)
  local a = string.find(item, '\0', 1, true)
  local b = string.find(item, '\0', a + 1, true)
  if not b then
    return string.sub(item, 1, a - 1), string.sub(item, a + 1)
  end
  return string.sub(item, 1, a - 1), string.sub(item, a + 1, b - 1), string.sub(item, b + 1)
end

-- remove_connection removes the connection record of socket, if node holds it.
local function remove_connection(app, socket, node)
  local sockets = app_key(app) .. ':sockets'
  if redis.call('HGET', sockets, socket) == node then
    redis.call('HDEL', sockets, socket)
  end
  redis.call('SREM', node_key(node, 'sockets'), app .. '\0' .. socket)
end

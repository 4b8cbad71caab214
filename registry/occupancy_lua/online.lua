-- Helpers of the signin scripts (prepended to each, after common.lua). An app's signed-in
-- connections are the hash {app}:signins, socket → node \0 user id, and the node's set
-- node:{node}:signins of app \0 socket; {app}:online counts each online user's signed-in
-- connections, and {app}:oseq numbers the app's online events.

-- next_online_seq returns the next online event number of app (see next_number).
local function next_online_seq(app)
  return next_number(app_key(app) .. ':oseq')
end

-- tell_online numbers an online (online true) or offline event of user and publishes it to
-- every node, in the same step as the decision. The message is the relay's "online" or
-- "offline" (jobs.RedisRelay).
local function tell_online(app, user, online)
  local seq = next_online_seq(app)
  if PUB ~= '' then
    local kind = 'offline'
    if online then
      kind = 'online'
    end
    redis.call('PUBLISH', PUB, '{"k":"' .. kind .. '","a":' .. cjson.encode(app) .. ',"u":' .. cjson.encode(user) ..
      ',"s":' .. string.format('%d', seq) .. '}')
  end
end

-- add_signin records socket, of node, as signed in as user; the user's first signed-in
-- connection is told online. It returns 1 when it told that, else 0.
local function add_signin(app, socket, node, user)
  redis.call('HSET', app_key(app) .. ':signins', socket, node .. '\0' .. user)
  redis.call('SADD', node_key(node, 'signins'), app .. '\0' .. socket)
  if redis.call('HINCRBY', app_key(app) .. ':online', user, 1) == 1 then
    tell_online(app, user, true)
    return 1
  end
  return 0
end

-- remove_signin removes the signin of socket, if node holds it (any node when node is nil);
-- the user's last signed-in connection is told offline. It returns 1 when it told that, else 0.
local function remove_signin(app, socket, node)
  local signins = app_key(app) .. ':signins'
  local v = redis.call('HGET', signins, socket)
  if not v then
    return 0
  end
  local sep = string.find(v, '\0', 1, true)
  local holder, user = string.sub(v, 1, sep - 1), string.sub(v, sep + 1)
  if node and holder ~= node then
    return 0
  end
  redis.call('HDEL', signins, socket)
  redis.call('SREM', node_key(holder, 'signins'), app .. '\0' .. socket)
  local online = app_key(app) .. ':online'
  if redis.call('HINCRBY', online, user, -1) <= 0 then
    redis.call('HDEL', online, user)
    tell_online(app, user, false)
    return 1
  end
  return 0
end

-- put_signin makes the store hold socket, of node, as signed in as user: what already
-- matches is left alone. It returns the number of online events told.
local function put_signin(app, socket, node, user)
  if redis.call('HGET', app_key(app) .. ':signins', socket) == node .. '\0' .. user then
    return 0
  end
  return remove_signin(app, socket, nil) + add_signin(app, socket, node, user)
end

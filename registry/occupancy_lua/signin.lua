-- signin: ARGV prefix, relay, node, app, socket, user, lease ttl (ms), then the user ids of
-- the watchlist. Records the socket as signed in as user (see put_signin). Returns {seq,
-- user ids...}: those of the watchlist online right after, as of the app's online event
-- numbered seq (0: none yet).
local node, app, socket, user, ttl = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
ensure_node(node, ttl)
put_signin(app, socket, node, user)
local online = app_key(app) .. ':online'
local out = { redis.call('GET', app_key(app) .. ':oseq') or '0' }
for i = 8, #ARGV do
  if redis.call('HEXISTS', online, ARGV[i]) == 1 then
    out[#out + 1] = ARGV[i]
  end
end
return out

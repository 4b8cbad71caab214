-- reassert_remove: ARGV prefix, relay, node, n, n app ids whose subscription counts are
-- published, the webhook apps (see hook_apps), then items of the node's sets that the node no longer
-- has: "s" and a subscription item (app \0 channel \0 socket), or "c" and a connection item
-- (app \0 socket). Removes them, where the node still holds them. Returns {user, app,
-- channel, ...}: each presence user whose last connection on the channel it removed (its
-- member_removed is told).
local node = ARGV[3]
local out = {}
for i = hook_apps(count_apps(4)), #ARGV, 2 do
  local kind, item = ARGV[i], ARGV[i + 1]
  if kind == 'c' then
    local app, socket = split_item(item)
    remove_connection(app, socket, node)
  else
    local app, channel, socket = split_item(item)
    local v = redis.call('HGET', ch_key(app, channel, 'socks'), socket)
    if v and (v == node or string.sub(v, 1, #node + 1) == node .. '\0') then
      local r = remove_socket(app, channel, socket)
      if r and r[2] == 1 then
        out[#out + 1] = r[1]
        out[#out + 1] = app
        out[#out + 1] = channel
      end
    end
    redis.call('SREM', node_key(node, 'socks'), item)
  end
end
tell_counts()
return out

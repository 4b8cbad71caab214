-- disconnect: ARGV prefix, node, app. Undoes one connect of this node, if it still counts any.
local node, app = ARGV[2], ARGV[3]
local function decr(key, field)
  local n = tonumber(redis.call('HGET', key, field) or '0')
  if n <= 1 then
    redis.call('HDEL', key, field)
  else
    redis.call('HINCRBY', key, field, -1)
  end
end
if tonumber(redis.call('HGET', app_key(app) .. ':conns', node) or '0') > 0 then
  decr(app_key(app) .. ':conns', node)
  decr(node_key(node, 'conns'), app)
end
return 1

-- connect: ARGV prefix, node, app, max, lease ttl (ms). Returns 1, or 0 when over quota.
local node, app, max, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local conns = app_key(app) .. ':conns'
if max > 0 then
  local sum = 0
  for _, n in ipairs(redis.call('HVALS', conns)) do
    sum = sum + tonumber(n)
  end
  if sum >= max then
    return 0
  end
end
ensure_node(node, ttl)
redis.call('HINCRBY', conns, node, 1)
redis.call('HINCRBY', node_key(node, 'conns'), app, 1)
return 1

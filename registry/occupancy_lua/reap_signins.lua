-- reap_signins: ARGV prefix, relay, dead node, batch size, force ("1": the node itself
-- leaving, whatever its lease). Removes up to batch of the node's signins; each user whose
-- last signed-in connection was there is told offline. Returns {status, offline}: status 0 =
-- the node holds a lease (nothing done), 1 = more to reap, 2 = done. SPOP hands each signin
-- to one reaper only, so racing reapers tell each user once. Run before reap, which drops
-- the node from {prefix}:nodes.
local node, batch = ARGV[3], tonumber(ARGV[4])
if ARGV[5] ~= '1' and redis.call('EXISTS', P .. ':lease:' .. node) == 1 then
  return { 0, 0 }
end
local offline = 0
local popped = redis.call('SPOP', node_key(node, 'signins'), batch)
for _, item in ipairs(popped) do
  local app, socket = split_item(item)
  offline = offline + remove_signin(app, socket, node)
end
if #popped < batch then
  return { 2, offline }
end
return { 1, offline }

-- signout: ARGV prefix, relay, node, then pairs (app, socket). Removes the signins of the
-- sockets that the node holds, and the items of the node's set. Returns the number of users
-- told offline.
local node = ARGV[3]
local n = 0
for i = 4, #ARGV, 2 do
  local app, socket = ARGV[i], ARGV[i + 1]
  n = n + remove_signin(app, socket, node)
  redis.call('SREM', node_key(node, 'signins'), app .. '\0' .. socket)
end
return n

-- reassert_signins: ARGV prefix, relay, node, lease ttl (ms), then triples (app, socket,
-- user). One batch of a node writing its signins back: the store comes to hold each socket
-- as signed in as user, by node (see put_signin); each user that this makes online is told.
-- Signins the node no longer has are removed by signout. Returns the number of online
-- events told.
local node, ttl = ARGV[3], ARGV[4]
ensure_node(node, ttl)
local n = 0
for i = 5, #ARGV, 3 do
  n = n + put_signin(ARGV[i], ARGV[i + 1], node, ARGV[i + 2])
end
return n

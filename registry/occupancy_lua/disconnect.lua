-- disconnect: ARGV prefix, relay, node, app, socket. Removes the socket's connection record,
-- if this node holds it.
remove_connection(ARGV[4], ARGV[5], ARGV[3])
return 1

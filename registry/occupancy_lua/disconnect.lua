-- disconnect: ARGV prefix, node, app, socket. Removes the socket's connection record, if this
-- node holds it.
remove_connection(ARGV[3], ARGV[4], ARGV[2])
return 1

-- unsubscribe: ARGV prefix, app, channel, socket. Returns nil for an unknown socket, else
-- {user id or '', last (0 or 1)}.
return remove_socket(ARGV[2], ARGV[3], ARGV[4])

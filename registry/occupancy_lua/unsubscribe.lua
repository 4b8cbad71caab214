-- unsubscribe: ARGV prefix, relay, app, channel, socket. Returns nil for an unknown socket,
-- else {user id or '', last (0 or 1)}.
return remove_socket(ARGV[3], ARGV[4], ARGV[5])

-- unsubscribe: ARGV prefix, relay, app, channel, socket, count ("1": the app's subscription
-- counts are published), the webhook apps (see hook_apps: none, or the app). Returns nil for an unknown socket, else {user id or '', last (0 or
-- 1)}.
if ARGV[6] == '1' then
  COUNTED[ARGV[3]] = true
end
hook_apps(7)
local r = remove_socket(ARGV[3], ARGV[4], ARGV[5])
tell_counts()
return r

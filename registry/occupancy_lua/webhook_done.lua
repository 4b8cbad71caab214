-- webhook_done: ARGV prefix, relay, app, batch id. Deletes the app's batch if it is still
-- that one.
local bk = app_key(ARGV[3]) .. ':wh:batch'
if redis.call('HGET', bk, 'id') == ARGV[4] then
  redis.call('DEL', bk)
end
return 1

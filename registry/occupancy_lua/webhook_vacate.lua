-- webhook_vacate: ARGV prefix, relay, then pairs of a pending vacate of {prefix}:wh:vacate
-- (app \0 channel) and "1" when the app takes channel_vacated, else "". Each that is due is
-- removed, and decides channel_vacated if the channel is still empty (a subscribe since
-- would have removed it). Returns how many were due.
local vacate, now, due = P .. ':wh:vacate', now_ms(), 0
for i = 3, #ARGV, 2 do
  local m = ARGV[i]
  local at = redis.call('ZSCORE', vacate, m)
  if at and tonumber(at) <= now then
    redis.call('ZREM', vacate, m)
    due = due + 1
    local sep = string.find(m, '\0', 1, true)
    local app, channel = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
    if ARGV[i + 1] == '1' and redis.call('HLEN', ch_key(app, channel, 'socks')) == 0 then
      hook(app, { name = 'channel_vacated', channel = channel })
    end
  end
end
return due

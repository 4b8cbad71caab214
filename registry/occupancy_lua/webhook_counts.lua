-- webhook_counts: ARGV prefix, relay, limit. Decides the subscription_count of up to limit
-- channels of {prefix}:wh:counts whose second is over: the count each has now. Returns how
-- many it decided.
local counts = P .. ':wh:counts'
local due = redis.call('ZRANGEBYSCORE', counts, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(due) do
  redis.call('ZREM', counts, m)
  local sep = string.find(m, '\0', 1, true)
  local app, channel = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
  local n = redis.call('HLEN', ch_key(app, channel, 'socks'))
  redis.call('SET', ch_key(app, channel, 'whcount'), '1', 'PX', 1000)
  hook(app, { name = 'subscription_count', channel = channel, subscription_count = n })
end
return #due

-- members: ARGV prefix, app, channel. Returns the encoded members in join order.
local app, channel = ARGV[2], ARGV[3]
local members = ch_key(app, channel, 'members')
local out = {}
for _, user in ipairs(redis.call('ZRANGE', ch_key(app, channel, 'order'), 0, -1)) do
  local m = redis.call('HGET', members, user)
  if m then
    out[#out + 1] = m
  end
end
return out

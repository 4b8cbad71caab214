-- members_of: ARGV prefix, then triples (app, channel, user id). Returns for each triple the
-- user's encoded member when the user is on the channel, else "".
local out = {}
for i = 2, #ARGV, 3 do
  out[#out + 1] = redis.call('HGET', ch_key(ARGV[i], ARGV[i + 1], 'members'), ARGV[i + 2]) or ''
end
return out

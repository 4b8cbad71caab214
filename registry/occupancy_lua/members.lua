-- members: ARGV prefix, relay, app, channel. Returns {seq, encoded members in join order...}:
-- the member list as of the member event numbered seq (0: none yet).
local app, channel = ARGV[3], ARGV[4]
local out = { string.format('%d', seq_of(app, channel)) }
for _, m in ipairs(members_in_order(app, channel)) do
  out[#out + 1] = m
end
return out

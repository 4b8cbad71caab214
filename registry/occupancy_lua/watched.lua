-- watched: ARGV prefix, relay, app, then user ids. Returns {seq, user ids...}: those online,
-- as of the app's online event numbered seq (0: none yet).
local app = ARGV[3]
local online = app_key(app) .. ':online'
local out = { redis.call('GET', app_key(app) .. ':oseq') or '0' }
for i = 4, #ARGV do
  if redis.call('HEXISTS', online, ARGV[i]) == 1 then
    out[#out + 1] = ARGV[i]
  end
end
return out

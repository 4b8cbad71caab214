-- webhook_lease: ARGV prefix, relay, node, ttl (ms), drop ("1": give the lease up). The lease
-- names the one node that hands webhook batches out. Returns 1 when node holds the lease
-- (taken, or renewed: it held it already), else 0; a drop returns 0.
local k, node = P .. ':wh:lease', ARGV[3]
if ARGV[5] == '1' then
  if redis.call('GET', k) == node then
    redis.call('DEL', k)
  end
  return 0
end
if redis.call('SET', k, node, 'PX', ARGV[4], 'NX') then
  return 1
end
if redis.call('GET', k) == node then
  redis.call('PEXPIRE', k, ARGV[4])
  return 1
end
return 0

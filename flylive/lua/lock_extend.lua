-- Extend a lock's TTL only if this holder still owns it.
-- KEYS: 1 lock   ARGV: 1 holder token, 2 TTL ms. Returns 1 when extended.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0

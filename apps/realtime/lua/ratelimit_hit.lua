-- Count one hit in a fixed window: INCR, and start the window's TTL at its first hit (a key
-- that lost its TTL gets one again). One call instead of MULTI/INCR/EXPIRE/EXEC.
-- KEYS: 1 ratelimit:{bucket}:{user}   ARGV: 1 window seconds. Returns the count so far.
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return count

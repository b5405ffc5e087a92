-- Stamp a web instance's heartbeat with the Redis clock (one clock for every host), and its
-- `registered` marker, which a sweep leaves in place but a Redis that lost its data does not.
-- Unless creating, an entry that is gone is told apart:
--   marker still there: a sweep declared the instance dead; it must not come back under the
--   same id (returns 0, nothing written);
--   marker gone too: Redis lost its data (a restart or failover without persistence); the
--   instance registers again under the same id (returns 2).
-- KEYS: 1 web:instances, 2 web:instance:{id}:registered
-- ARGV: 1 instance id, 2 '1' to create the entry, 3 the marker's TTL in ms
-- Returns 1 when stamped, 0 when swept, 2 when registered again after a data loss.
local result = 1
if ARGV[2] ~= '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    return 0
  end
  result = 2
end
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)))
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return result

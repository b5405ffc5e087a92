-- A batch's outcome is handled: queue its retries again and drop its processing list, in one
-- step. A list that is already gone was finished by another flush (this one lost its lock):
-- nothing is queued twice.
-- KEYS: 1 gifts:pending, 2 gifts:processing (index), 3 the processing list
-- ARGV: the transactions to send again (JSON texts). Returns {finished (1/0), pending length}.
local finished = 0
if redis.call('EXISTS', KEYS[3]) == 1 then
  if #ARGV > 0 then
    redis.call('RPUSH', KEYS[1], unpack(ARGV))
  end
  redis.call('DEL', KEYS[3])
  finished = 1
end
redis.call('SREM', KEYS[2], KEYS[3])
return {finished, redis.call('LLEN', KEYS[1])}

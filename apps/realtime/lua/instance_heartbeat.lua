-- Stamp a web instance's heartbeat with the Redis clock (one clock for every host).
-- Unless creating, only an entry that still exists is refreshed: a missing one means a
-- sweep declared the instance dead, and it must not come back under the same id.
-- KEYS: 1 web:instances
-- ARGV: 1 instance id, 2 '1' to create the entry
-- Returns 1 when stamped, 0 when the entry was gone.
if ARGV[2] ~= '1' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)))
return 1

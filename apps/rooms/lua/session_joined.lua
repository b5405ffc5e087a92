-- A socket joined the room: start its session history (a created room, or one with no
-- history yet) or raise its peak participant count.
-- KEYS: 1 room:{id}:session   ARGV: 1 created (1/0), 2 new session id, 3 now ms,
--                                    4 participant count, 5 TTL seconds
-- Returns 1 when a new session started (its id is ARGV[2]), else 0.
local count = tonumber(ARGV[4])
if ARGV[1] == '1' or redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'session_id', ARGV[2], 'opened_at', ARGV[3], 'peak', count,
             'chats', 0, 'gifts', 0)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
  return 1
end
if count > tonumber(redis.call('HGET', KEYS[1], 'peak') or '0') then
  redis.call('HSET', KEYS[1], 'peak', count)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 0

-- Prelude shared by the scripts that count a new member in the room's session history
-- (`room:{id}:session`, the room's slot; see session_history.py).
-- A socket joined the room as a new member: start the session (a created room, or one with no
-- history yet) or raise its peak participant count. Returns 1 when a session started.
local function session_joined(key, created, session_id, now, count, ttl)
  if created or redis.call('EXISTS', key) == 0 then
    redis.call('DEL', key)
    redis.call('HSET', key, 'session_id', session_id, 'opened_at', now, 'peak', count, 'chats', 0, 'gifts', 0)
    redis.call('EXPIRE', key, ttl)
    return 1
  end
  if count > tonumber(redis.call('HGET', key, 'peak') or '0') then
    redis.call('HSET', key, 'peak', count)
  end
  redis.call('EXPIRE', key, ttl)
  return 0
end

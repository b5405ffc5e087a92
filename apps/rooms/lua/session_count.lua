-- Count one chat message or gift in the room's open session (nothing when it has none: a
-- message racing the close must not start a history of its own).
-- KEYS: 1 room:{id}:session   ARGV: 1 field (chats | gifts), 2 TTL seconds
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0

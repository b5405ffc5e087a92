-- Remove a socket from its user's set, and delete the set if that emptied it (contract 6.4).
-- KEYS: 1 user:{id}:sockets   ARGV: 1 socket id
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
end
return 1

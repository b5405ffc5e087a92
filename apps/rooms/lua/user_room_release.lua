-- DEL `user:{id}:room` only if it still names this room (another room may own it now).
-- KEYS: 1 user room pointer; ARGV: 1 room id. Returns 1 when deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

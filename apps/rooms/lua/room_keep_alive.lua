-- Keep a live room's records past their 24 h TTLs: when the members hash has less than
-- half its TTL left, reset the TTLs of the state, members, member_users, join sequence and of each member
-- user's `user:{id}:room` (when it names this room) and `user:{id}:sockets`.
-- KEYS: 1 state, 2 members, 3 member_users, 4 join sequence
-- ARGV: 1 room id, 2 room TTL s, 3 user key TTL s
-- Returns 1 when refreshed, 0 when still fresh.
local ttl = tonumber(ARGV[2])
local left = redis.call('TTL', KEYS[2])
if left == -2 or left > ttl / 2 then
  return 0  -- no members (nothing to keep) or still fresh
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
local user_ttl = tonumber(ARGV[3])
for _, uid in ipairs(redis.call('HKEYS', KEYS[3])) do
  local pointer = 'user:' .. uid .. ':room'
  if redis.call('GET', pointer) == ARGV[1] then
    redis.call('EXPIRE', pointer, user_ttl)
  end
  redis.call('EXPIRE', 'user:' .. uid .. ':sockets', user_ttl)
end
return 1

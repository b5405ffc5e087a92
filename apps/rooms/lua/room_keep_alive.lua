-- Keep a live room's records past their 24 h TTLs: when the members hash has less than
-- half its TTL left, reset the TTLs of the state, members, member_users and join sequence,
-- and return the member users (the caller renews their `user:{id}:*` keys: other slots on a
-- Cluster).
-- KEYS: 1 state, 2 members, 3 member_users, 4 join sequence
-- ARGV: 1 room TTL s
-- Returns {1, {user ids}} when refreshed, {0} when still fresh.
local ttl = tonumber(ARGV[1])
local left = redis.call('TTL', KEYS[2])
if left == -2 or left > ttl / 2 then
  return {0}  -- no members (nothing to keep) or still fresh
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[4], ttl)
return {1, redis.call('HKEYS', KEYS[3])}

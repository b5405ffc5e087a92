-- Forget a room's shared state, atomically, and return the user ids of its members
-- (so the caller can release their `user:{id}:room` pointers).
-- KEYS: 1 state, 2 members, 3 member_users, 4 seats, 5 locked seats, 6 activity
-- Returns the member user ids (JS formatted strings).
local users = redis.call('HKEYS', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return users

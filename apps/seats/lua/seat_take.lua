-- seat:take / the take half of seat:invite:accept: sit `user` on `index`, moving them from
-- any other seat. KEYS: 1 seats, 2 seat_of, 3 locked, 4 seat count
-- ARGV: 1 user id, 2 index, 3 default seat count
-- Returns {1, previous index or -1} or {0, error text}.
local user, index = ARGV[1], ARGV[2]
if not in_range(tonumber(index), seat_count(KEYS[4], ARGV[3])) then return fail('Invalid seat index') end
if redis.call('SISMEMBER', KEYS[3], index) == 1 then return fail('Seat is locked') end
if redis.call('HEXISTS', KEYS[1], index) == 1 then return fail('Seat is already taken') end
local previous = seat_of(KEYS[1], KEYS[2], user)
if previous then redis.call('HDEL', KEYS[1], previous) end
sit(KEYS[1], KEYS[2], index, user)
return {1, tonumber(previous or -1)}

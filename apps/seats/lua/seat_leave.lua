-- seat:leave, seat:remove, leaving the room: free the seat `user` holds.
-- KEYS: 1 seats, 2 seat_of   ARGV: 1 user id
-- Returns {1, freed index} or {0, 'You are not seated'}.
local index = seat_of(KEYS[1], KEYS[2], ARGV[1])
if not index then return fail('You are not seated') end
redis.call('HDEL', KEYS[1], index)
redis.call('HDEL', KEYS[2], ARGV[1])
return {1, tonumber(index)}

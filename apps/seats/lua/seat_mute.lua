-- seat:mute / seat:unmute: set the mute flag of the seat `user` holds.
-- KEYS: 1 seats, 2 seat_of   ARGV: 1 user id, 2 '1' muted / '0' unmuted
-- Returns {1, index} or {0, 'User is not seated'}.
local index = seat_of(KEYS[1], KEYS[2], ARGV[1])
if not index then return fail('User is not seated') end
redis.call('HSET', KEYS[1], index, seat_entry(ARGV[1], ARGV[2] == '1'))
return {1, tonumber(index)}

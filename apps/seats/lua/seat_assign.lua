-- seat:assign: sit `user` on `index` whoever is there (the occupant is evicted), moving the
-- user from any other seat. KEYS: 1 seats, 2 seat_of, 3 locked, 4 seat count
-- ARGV: 1 user id, 2 index, 3 default seat count
-- Returns {1, previous index of the user or -1, evicted user id or ''} or {0, error text}.
local user, index = ARGV[1], ARGV[2]
if not in_range(tonumber(index), seat_count(KEYS[4], ARGV[3])) then return fail('Invalid seat index') end
if redis.call('SISMEMBER', KEYS[3], index) == 1 then return fail('Seat is locked') end
local evicted = occupant(KEYS[1], index)
if evicted == user then
  sit(KEYS[1], KEYS[2], index, user)  -- already there: the mute flag resets, as a fresh assign
  return {1, -1, ''}
end
if evicted then redis.call('HDEL', KEYS[2], evicted) end
local previous = seat_of(KEYS[1], KEYS[2], user)
if previous then redis.call('HDEL', KEYS[1], previous) end
sit(KEYS[1], KEYS[2], index, user)
return {1, tonumber(previous or -1), evicted or ''}

-- seat:lock: lock `index`, kicking its occupant.
-- KEYS: 1 seats, 2 seat_of, 3 locked, 4 seat count   ARGV: 1 index, 2 default seat count
-- Returns {1, kicked user id or ''} or {0, error text}.
local index = ARGV[1]
if not in_range(tonumber(index), seat_count(KEYS[4], ARGV[2])) then return fail('Invalid seat index') end
if redis.call('SISMEMBER', KEYS[3], index) == 1 then return fail('Seat is already locked') end
local kicked = occupant(KEYS[1], index)
if kicked then
  redis.call('HDEL', KEYS[1], index)
  if redis.call('HGET', KEYS[2], kicked) == index then redis.call('HDEL', KEYS[2], kicked) end
end
redis.call('SADD', KEYS[3], index)
return {1, kicked or ''}

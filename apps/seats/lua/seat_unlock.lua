-- seat:unlock.  KEYS: 1 locked, 2 seat count   ARGV: 1 index, 2 default seat count
-- Returns {1} or {0, error text}.
if not in_range(tonumber(ARGV[1]), seat_count(KEYS[2], ARGV[2])) then return fail('Invalid seat index') end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return fail('Seat is not locked') end
return {1}

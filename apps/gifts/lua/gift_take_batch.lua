-- Move the oldest pending transactions (at most ARGV[1]) into a new processing list, in one
-- step: a flush that dies after this leaves them in the list, indexed, for the next flush.
-- KEYS: 1 gifts:pending, 2 gifts:processing (index), 3 the new processing list
-- ARGV: 1 batch size. Returns the moved items (empty: nothing pending).
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then
  return items
end
redis.call('LTRIM', KEYS[1], #items, -1)
redis.call('RPUSH', KEYS[3], unpack(items))
redis.call('SADD', KEYS[2], KEYS[3])
return items

-- Remove a member from a sorted set only while its score is still the one the caller read:
-- an index entry found stale (its room or invite gone) is dropped, but one that a write
-- racing the caller has just renewed (a new score) stays.
-- KEYS: 1 sorted set   ARGV: 1 member, 2 the score read. Returns 1 when removed.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0

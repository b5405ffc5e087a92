-- Expire the invite on `index` if its time has come (the sweep). Exactly one caller gets the
-- target back and tells the room. KEYS: 1 expiry zset, 2 invite, 3 targets, 4 invitee seats,
-- 5 room invite index   ARGV: 1 expiry member, 2 index, 3 now ms
-- Returns the expired invite's target id, or false.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[3]) then return false end
return drop_invite(KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[1], ARGV[2], ARGV[1]) or false

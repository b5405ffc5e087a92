-- Expire the invite on `index` if its time has come (the sweep, for an entry of the expiry
-- index whose score is due). Exactly one caller gets the target back and tells the room.
-- KEYS: 1 invite, 2 targets, 3 invitee seats, 4 room invite index
-- ARGV: 1 index, 2 now ms, 3 invite TTL ms
-- Returns {1, target id} when this call expired it, {2} when nothing is pending on the seat
-- (answered, or the room closed: the entry is stale), {0} when the invite there is not due
-- (a newer invite on the seat): the caller keeps the entry unless its score changed.
local created_at = invite_created_at(KEYS[1])
if created_at and created_at + tonumber(ARGV[3]) > tonumber(ARGV[2]) then return {0} end
local target = drop_invite(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
if target then return {1, target} end
return {2}

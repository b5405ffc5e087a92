-- seat:invite: a pending invite of `target` to `index` for TTL ms. The caller then lists it in
-- the global expiry index (another Cluster slot), score now + TTL.
-- KEYS: 1 seats, 2 seat count, 3 invite, 4 targets, 5 invitee seats, 6 room invite index
-- ARGV: 1 index, 2 target id, 3 inviter id, 4 now ms, 5 TTL ms, 6 default seat count
-- Returns {1} or {0, error text}.
local index = ARGV[1]
if not in_range(tonumber(index), seat_count(KEYS[2], ARGV[6])) then return fail('Invalid seat index') end
if redis.call('HEXISTS', KEYS[1], index) == 1 then return fail('Seat is already occupied') end
if redis.call('EXISTS', KEYS[3]) == 1 then return fail('Invite already pending for this seat') end
-- An earlier invite on this seat that expired before the sweep saw it: forget it first.
drop_invite(KEYS[3], KEYS[4], KEYS[5], KEYS[6], index)
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local invite = cjson.encode({targetUserId = ARGV[2], invitedBy = ARGV[3], seatIndex = tonumber(index),
                             createdAt = now})
redis.call('SET', KEYS[3], invite, 'PX', ttl)
redis.call('HSET', KEYS[4], index, ARGV[2])
add_invitee_seat(KEYS[5], ARGV[2], index)
redis.call('SADD', KEYS[6], KEYS[3])
return {1}

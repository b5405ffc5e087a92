-- Delete every seat, lock and invite of a room: when it closes, and when it opens again (so
-- nothing a late request wrote between the close and the new session survives), then store
-- the new session's seat count.
-- KEYS: 1 seats, 2 seat_of, 3 locked, 4 seat count, 5 targets, 6 invitee seats,
--       7 room invite index   ARGV: 1 seat count or ''
-- Returns the number of pending invites dropped. Their entries in the global expiry index
-- (another Cluster slot) stay until due, when the sweep finds nothing pending and drops them.
local targets = redis.call('HKEYS', KEYS[5])
local invites = redis.call('SMEMBERS', KEYS[7])
for _, key in ipairs(invites) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
if ARGV[1] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end
return #targets

-- Claim a room's close and forget its shared state, atomically: exactly one caller
-- (auto-close on several Celery workers, a lost media node, staff) closes a room, and a
-- join can never interleave with the deletion.
-- With ARGV[2] == '1' (auto-close) the room must still be idle: no activity mark and no
-- members, re-checked here so a join that landed after the caller's read wins.
-- On success the `closing` marker is set until the caller has told sockets, media and
-- Laravel (joins wait for it), and the user ids of the members are returned; the caller drops
-- the room from `rooms:active` (another slot on a Cluster).
-- Seats, locks and invites are the seats app's: the caller asks it to forget them.
-- KEYS: 1 state, 2 members, 3 member_users, 4 activity, 5 closing marker, 6 join sequence
-- ARGV: 1 '1' only if idle, 2 closing marker token, 3 closing marker TTL ms
-- Returns {1, {user ids}} when this call closed the room, {2} when there is no room (no state,
-- no members: an index entry naming it is stale), {0} otherwise.
if redis.call('EXISTS', KEYS[5]) == 1 then
  return {0}  -- another caller's close of this room is running
end
if ARGV[1] == '1' and (redis.call('EXISTS', KEYS[4]) == 1 or redis.call('HLEN', KEYS[2]) > 0) then
  return {0}
end
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('HLEN', KEYS[2]) == 0 then
  return {2}  -- already closed (or never opened)
end
local users = redis.call('HKEYS', KEYS[3])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6])
redis.call('SET', KEYS[5], ARGV[2], 'PX', tonumber(ARGV[3]))
return {1, users}

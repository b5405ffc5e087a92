-- seat:invite:accept / seat:invite:decline of the invite on `index` by `user`. Accepting
-- takes the seat (unlocking it: invites bypass locks) and consumes the invite in one step,
-- so a failed take leaves the invite pending and the seat as it was.
-- KEYS: 1 seats, 2 seat_of, 3 locked, 4 seat count, 5 invite, 6 targets, 7 invitee seats,
--       8 room invite index
-- ARGV: 1 user id, 2 index, 3 'accept' | 'decline', 4 default seat count
-- Returns {1, previous seat or -1, unlocked 0/1, the invite's createdAt ms or -1} or {0, error text}
-- (the caller drops the invite's expiry entry, which has createdAt + TTL as its score).
local user, index = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[5]) == 0 or redis.call('HGET', KEYS[6], index) ~= user then
  remove_invitee_seat(KEYS[7], user, index)  -- whatever the user's index said, nothing is pending
  return fail('No pending invite found')
end
local previous, unlocked = nil, 0
if ARGV[3] == 'accept' then
  if not in_range(tonumber(index), seat_count(KEYS[4], ARGV[4])) then return fail('Invalid seat index') end
  if redis.call('HEXISTS', KEYS[1], index) == 1 then return fail('Seat is already taken') end
  unlocked = redis.call('SREM', KEYS[3], index)
  previous = seat_of(KEYS[1], KEYS[2], user)
  if previous then redis.call('HDEL', KEYS[1], previous) end
  sit(KEYS[1], KEYS[2], index, user)
end
local created_at = invite_created_at(KEYS[5]) or -1
drop_invite(KEYS[5], KEYS[6], KEYS[7], KEYS[8], index)
return {1, tonumber(previous or -1), unlocked, created_at}

-- Join one socket to a room, atomically: create the room state if missing (never
-- overwriting an existing count), add the socket to the members hash, recount and
-- mark activity. Only the room's keys (one hash tag, one Cluster slot): the caller writes
-- the user's room pointer and the active rooms index in the same round trip.
-- Refused while a close of the room is still running (its `closing` marker): the
-- caller waits and retries, so the join lands in a fresh room, never a half-closed one.
-- A new member also counts in the room's session history (started when the join created
-- the room or the room has none yet; else its peak raised).
-- KEYS: 1 state, 2 members, 3 member_users, 4 activity, 5 closing marker,
--       6 producers (read only), 7 join sequence, 8 session history
-- ARGV: 1 sid, 2 user id (JS formatted), 3 member entry JSON, 4 initial state JSON,
--       5 now ms, 6 activity TTL ms, 7 state TTL s, 8 session id if one starts, 9 session TTL s
-- Returns {created (0/1), new member (0/1), participant count, join sequence, members
-- (HGETALL), producers (HGETALL), session started (0/1)}: the join ack's view, read in the
-- same atomic step as the join. The sequence numbers new members in join order (0 for a re-join): a member's ack
-- lists exactly the members with a lower number, so only those with a higher one need
-- announcing to it. {-1, 0, 0} while closing.

-- The session history (`room:{id}:session`, session_history.py) of a new member's join.
-- Returns 1 when a session started.
local function session_joined(key, created, session_id, now, count, ttl)
  if created or redis.call('EXISTS', key) == 0 then
    redis.call('DEL', key)
    redis.call('HSET', key, 'session_id', session_id, 'opened_at', now, 'peak', count, 'chats', 0, 'gifts', 0)
    redis.call('EXPIRE', key, ttl)
    return 1
  end
  if count > tonumber(redis.call('HGET', key, 'peak') or '0') then
    redis.call('HSET', key, 'peak', count)
  end
  redis.call('EXPIRE', key, ttl)
  return 0
end

if redis.call('EXISTS', KEYS[5]) == 1 then
  return {-1, 0, 0}
end
local state_ttl = tonumber(ARGV[7])

local created = 0
local raw = redis.call('GET', KEYS[1])
if not raw then
  raw = ARGV[4]
  created = 1
end

local is_new = redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local seq = 0
if is_new == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
  seq = redis.call('INCR', KEYS[7])
end
redis.call('EXPIRE', KEYS[2], state_ttl)
redis.call('EXPIRE', KEYS[3], state_ttl)
redis.call('EXPIRE', KEYS[7], state_ttl)

local count = redis.call('HLEN', KEYS[2])
local ok, state = pcall(cjson.decode, raw)
if not ok or type(state) ~= 'table' then
  state = cjson.decode(ARGV[4])
end
state['participantCount'] = count
state['lastActivityAt'] = tonumber(ARGV[5])
redis.call('SET', KEYS[1], encode_room_state(state), 'EX', state_ttl)

redis.call('SET', KEYS[4], ARGV[5], 'PX', tonumber(ARGV[6]))
local started = 0
if is_new == 1 then
  started = session_joined(KEYS[8], created == 1, ARGV[8], ARGV[5], count, tonumber(ARGV[9]))
end
return {created, is_new, count, seq, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[6]), started}

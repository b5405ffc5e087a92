-- Join one socket to a room, atomically: create the room state if missing (never
-- overwriting an existing count), add the socket to the members hash, recount,
-- mark activity and point the user at the room.
-- KEYS: 1 state, 2 members, 3 member_users, 4 activity, 5 user room pointer
-- ARGV: 1 sid, 2 user id (JS formatted), 3 member entry JSON, 4 initial state JSON,
--       5 now ms, 6 activity TTL ms, 7 room id, 8 state TTL s, 9 user room TTL s
-- Returns {created (0/1), new member (0/1), participant count}
local state_ttl = tonumber(ARGV[8])

local created = 0
local raw = redis.call('GET', KEYS[1])
if not raw then
  raw = ARGV[4]
  created = 1
end

local is_new = redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if is_new == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
end
redis.call('EXPIRE', KEYS[2], state_ttl)
redis.call('EXPIRE', KEYS[3], state_ttl)

local count = redis.call('HLEN', KEYS[2])
local ok, state = pcall(cjson.decode, raw)
if not ok or type(state) ~= 'table' then
  state = cjson.decode(ARGV[4])
end
state['participantCount'] = count
state['lastActivityAt'] = tonumber(ARGV[5])
redis.call('SET', KEYS[1], encode_room_state(state), 'EX', state_ttl)

redis.call('SET', KEYS[4], ARGV[5], 'PX', tonumber(ARGV[6]))
redis.call('SET', KEYS[5], ARGV[7], 'EX', tonumber(ARGV[9]))
return {created, is_new, count}

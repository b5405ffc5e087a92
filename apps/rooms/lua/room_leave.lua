-- Remove one socket from a room, atomically. When it was the user's last socket in
-- the room the caller frees the user's seat through the seats app (`user:{id}:room`, another
-- slot on a Cluster, is only believed while the user is in member_users).
-- KEYS: 1 state, 2 members, 3 member_users
-- ARGV: 1 sid, 2 user id (JS formatted), 3 now ms, 4 state TTL s
-- Returns {was member (0/1), participant count, state existed (0/1), user's last socket left (0/1)}
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
  return {0, redis.call('HLEN', KEYS[2]), redis.call('EXISTS', KEYS[1]), 0}
end

local last_socket = 0
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then
  last_socket = 1
  redis.call('HDEL', KEYS[3], ARGV[2])
end

local count = redis.call('HLEN', KEYS[2])
local raw = redis.call('GET', KEYS[1])
local existed = 0
if raw then
  existed = 1
  local ok, state = pcall(cjson.decode, raw)
  if ok and type(state) == 'table' then
    state['participantCount'] = count
    state['lastActivityAt'] = tonumber(ARGV[3])
    redis.call('SET', KEYS[1], encode_room_state(state), 'EX', tonumber(ARGV[4]))
  end
end
return {1, count, existed, last_socket}

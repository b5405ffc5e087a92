-- Remove one socket from a room, atomically. When it was the user's last socket in
-- the room, also free the user's seat (5.3 leave: first seat holding that user id)
-- and drop `user:{id}:room` if it still points at this room.
-- KEYS: 1 state, 2 members, 3 member_users, 4 seats, 5 user room pointer
-- ARGV: 1 sid, 2 user id (JS formatted), 3 room id, 4 now ms, 5 state TTL s
-- Returns {was member (0/1), participant count, freed seat index or -1,
--          state existed (0/1), user's last socket left (0/1)}
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
  return {0, redis.call('HLEN', KEYS[2]), -1, redis.call('EXISTS', KEYS[1]), 0}
end

local seat = -1
local last_socket = 0
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then
  last_socket = 1
  redis.call('HDEL', KEYS[3], ARGV[2])
  local fields = redis.call('HGETALL', KEYS[4])
  for i = 1, #fields, 2 do
    local ok, entry = pcall(cjson.decode, fields[i + 1])
    if ok and type(entry) == 'table' and entry['userId'] ~= nil and tostring(entry['userId']) == ARGV[2] then
      redis.call('HDEL', KEYS[4], fields[i])
      seat = tonumber(fields[i])
      break
    end
  end
  if redis.call('GET', KEYS[5]) == ARGV[3] then
    redis.call('DEL', KEYS[5])
  end
end

local count = redis.call('HLEN', KEYS[2])
local raw = redis.call('GET', KEYS[1])
local existed = 0
if raw then
  existed = 1
  local ok, state = pcall(cjson.decode, raw)
  if ok and type(state) == 'table' then
    state['participantCount'] = count
    state['lastActivityAt'] = tonumber(ARGV[4])
    redis.call('SET', KEYS[1], encode_room_state(state), 'EX', tonumber(ARGV[5]))
  end
end
return {1, count, seat, existed, last_socket}

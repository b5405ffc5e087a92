-- Prelude shared by the seat scripts (prepended at load).
-- Seats live in a hash (index -> JSON {"userId": "<id>", "muted": bool}, the contract's shape)
-- and a reverse hash (user id -> index), kept together by every script so that a user's
-- seat is found in O(1) and no user ever holds two seats.

-- The room's seat count (stored with the room), else the server default.
local function seat_count(count_key, default)
  return tonumber(redis.call('GET', count_key) or default)
end

local function in_range(index, count)
  return index >= 0 and index < count
end

-- The user id sitting on `index`, or nil.
local function occupant(seats_key, index)
  local raw = redis.call('HGET', seats_key, index)
  if not raw then return nil end
  local ok, entry = pcall(cjson.decode, raw)
  if ok and type(entry) == 'table' and entry['userId'] ~= nil then
    return tostring(entry['userId'])
  end
  return nil
end

-- The index `user` holds, checked against the seats hash (a stale reverse entry is dropped).
local function seat_of(seats_key, seat_of_key, user)
  local index = redis.call('HGET', seat_of_key, user)
  if not index then return nil end
  if occupant(seats_key, index) == user then return index end
  redis.call('HDEL', seat_of_key, user)
  return nil
end

local function seat_entry(user, muted)
  return cjson.encode({userId = user, muted = muted})
end

local function sit(seats_key, seat_of_key, index, user)
  redis.call('HSET', seats_key, index, seat_entry(user, false))
  redis.call('HSET', seat_of_key, user, index)
end

local function fail(text)
  return {0, text}
end

-- Invites. A pending invite is `room:{id}:invite:{index}` (the contract's JSON, 30 s TTL) plus
-- two hashes of the room: targets (index -> user id) and invitee seats (user id -> the
-- indices of that user's pending invites, comma separated: at most 15), so a user's invites
-- are found in O(1); the room's invite index (a set of the live invite keys) lets the room's
-- close delete them without SCAN.

-- When the invite stored in `invite_key` was made (ms), or nil.
local function invite_created_at(invite_key)
  local raw = redis.call('GET', invite_key)
  if not raw then return nil end
  local ok, invite = pcall(cjson.decode, raw)
  if ok and type(invite) == 'table' then return tonumber(invite['createdAt']) end
  return nil
end
local function invitee_seats(invitees_key, user)
  local seats = {}
  for part in string.gmatch(redis.call('HGET', invitees_key, user) or '', '[^,]+') do
    seats[#seats + 1] = part
  end
  return seats
end

local function set_invitee_seats(invitees_key, user, seats)
  if #seats == 0 then
    redis.call('HDEL', invitees_key, user)
  else
    redis.call('HSET', invitees_key, user, table.concat(seats, ','))
  end
end

local function add_invitee_seat(invitees_key, user, index)
  local seats = invitee_seats(invitees_key, user)
  for _, seat in ipairs(seats) do
    if seat == index then return end
  end
  seats[#seats + 1] = index
  set_invitee_seats(invitees_key, user, seats)
end

local function remove_invitee_seat(invitees_key, user, index)
  local kept = {}
  for _, seat in ipairs(invitee_seats(invitees_key, user)) do
    if seat ~= index then kept[#kept + 1] = seat end
  end
  set_invitee_seats(invitees_key, user, kept)
end

-- Forget the invite on `index` (whoever it was for): invite key, both hashes, index. Its entry
-- in the global expiry index (another Cluster slot) is the caller's, or the sweep's.
local function drop_invite(invite_key, targets_key, invitees_key, index_key, index)
  local target = redis.call('HGET', targets_key, index)
  if target then remove_invitee_seat(invitees_key, target, index) end
  redis.call('HDEL', targets_key, index)
  redis.call('DEL', invite_key)
  redis.call('SREM', index_key, invite_key)
  return target
end

-- A node gives a room up: delete KEYS[1] only while it still names ARGV[1] (a node forgets only
-- its own rooms). The caller drops the room from that node's room index in the same round trip.
-- KEYS: 1 room:{roomId}:media_node   ARGV: 1 node id
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

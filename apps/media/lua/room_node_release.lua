-- A node gives a room up: delete KEYS[1] only while it still names ARGV[1] (a node forgets only
-- its own rooms), and drop the room from that node's room index.
-- KEYS: 1 room:{roomId}:media_node  2 media:node:{ARGV[1]}:rooms   ARGV: 1 node id, 2 room id
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

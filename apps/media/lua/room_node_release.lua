-- Delete KEYS[1] only while it still names ARGV[1]: a node forgets only its own rooms.
-- KEYS: 1 room:{roomId}:media_node   ARGV: 1 node id
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

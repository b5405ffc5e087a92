-- Place a room on a media node: set KEYS[1] to ARGV[1] unless it holds a node other than
-- ARGV[2] (a node known dead, which may be replaced); return the holder. The holder's room
-- index (KEYS[2], when the holder is ARGV[1]) lists the room, so a node lost later gives its rooms up.
-- KEYS: 1 room:{roomId}:media_node  2 media:node:{ARGV[1]}:rooms
-- ARGV: 1 candidate node, 2 dead node or '', 3 TTL s, 4 room id
local current = redis.call('GET', KEYS[1])
if (not current) or (ARGV[2] ~= '' and current == ARGV[2]) or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[4])
  return ARGV[1]
end
return current

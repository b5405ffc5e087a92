-- Place a room on a media node: set KEYS[1] to ARGV[1] unless it holds a node other than
-- ARGV[2] (a node known dead, which may be replaced); return the holder.
-- KEYS: 1 room:{roomId}:media_node   ARGV: 1 candidate node, 2 dead node or '', 3 TTL s
local current = redis.call('GET', KEYS[1])
if (not current) or (ARGV[2] ~= '' and current == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return ARGV[1]
end
return current

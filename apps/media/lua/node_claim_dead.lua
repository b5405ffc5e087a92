-- Claim a dead media node, once: if its registry entry (KEYS[1] field ARGV[1]) still has a
-- heartbeat older than ARGV[2] ms, remove the entry and its room index (KEYS[2]) and return
-- {1, room ids}; otherwise (claimed by another caller, alive again, unreadable) return {0}.
-- KEYS: 1 media:nodes  2 media:node:{ARGV[1]}:rooms   ARGV: 1 node id, 2 dead-before (ms)
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return {0}
end
local ok, info = pcall(cjson.decode, raw)
if not ok or type(info) ~= 'table' or type(info['updatedAt']) ~= 'number' then
  return {0}
end
if info['updatedAt'] >= tonumber(ARGV[2]) then
  return {0}
end
redis.call('HDEL', KEYS[1], ARGV[1])
local rooms = redis.call('SMEMBERS', KEYS[2])
redis.call('DEL', KEYS[2])
return {1, rooms}

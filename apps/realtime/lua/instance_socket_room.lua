-- Record the room of one of an instance's sockets, only while the socket is recorded:
-- a late write after the disconnect cleanup (or a sweep) must not leave an orphan.
-- KEYS: 1 instance sockets hash, 2 instance rooms hash
-- ARGV: 1 sid, 2 room id
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return 1
end
return 0

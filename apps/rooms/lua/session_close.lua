-- The room closed: take its session figures and forget them, in one step (exactly one
-- closer gets them). KEYS: 1 room:{id}:session. Returns the hash as a flat list (empty: none).
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return fields

-- A socket joined the room (outside the join script, which does the same in its own step).
-- KEYS: 1 room:{id}:session   ARGV: 1 created (1/0), 2 new session id, 3 now ms,
--                                    4 participant count, 5 TTL seconds
-- Returns 1 when a new session started (its id is ARGV[2]), else 0.
return session_joined(KEYS[1], ARGV[1] == '1', ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]))

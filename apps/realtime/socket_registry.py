"""The user <-> socket registry in Redis (contract 1.6, 6.4, 8.6): `user:{id}:sockets`.

Written here on connect and disconnect; read by `emit(User(...))` and by anyone
who needs a user's sockets (invites, Laravel events).
"""

from __future__ import annotations

from redis.asyncio import Redis

from apps.users.keys import USER_KEY_TTL_SECONDS, user_sockets_key

# SREM, then DEL the set if that emptied it, atomically.
_REMOVE_SOCKET_LUA = """
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
end
return 1
"""


class SocketRegistry:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        # register_script: EVALSHA, loading the script once if the server lacks it.
        self._remove_script = redis.register_script(_REMOVE_SOCKET_LUA)

    async def add(self, user_id: int | float, sid: str) -> None:
        key = user_sockets_key(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, sid)
            pipe.expire(key, USER_KEY_TTL_SECONDS)
            await pipe.execute()

    async def remove(self, user_id: int | float, sid: str) -> None:
        await self._remove_script(keys=[user_sockets_key(user_id)], args=[sid])

    async def sockets_of(self, user_id: int | float) -> set[str]:
        members = await self._redis.smembers(user_sockets_key(user_id))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

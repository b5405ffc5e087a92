"""A Redis lock with a TTL, for work that must not run twice at once across processes
(a periodic job's runs, a room's close).

    lock = RedisLock(redis, "rooms:auto_close:lock", ttl_ms=60_000)
    if await lock.acquire():
        try:
            ...
            await lock.extend()      # long runs keep it
        finally:
            await lock.release()     # compare-and-delete: never someone else's

The TTL frees the lock when its holder dies; release and extend only touch the lock
while this holder's token is still in it.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flylive.lua_scripts import lua_text
from flylive.redis_types import AsyncRedis

LUA_DIR = Path(__file__).resolve().parent / "lua"


class RedisLock:
    def __init__(self, redis: AsyncRedis, key: str, *, ttl_ms: int, token: str | None = None) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = token or secrets.token_hex(12)
        self._release = redis.register_script(lua_text(LUA_DIR, "lock_release.lua"))
        self._extend = redis.register_script(lua_text(LUA_DIR, "lock_extend.lua"))

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it (SET NX PX); True when taken."""
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def extend(self) -> bool:
        """Reset the TTL; False when the lock was lost (expired, taken by another)."""
        return bool(await self._extend(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> bool:
        """Delete the lock if this holder still owns it."""
        return bool(await self._release(keys=[self.key], args=[self.token]))

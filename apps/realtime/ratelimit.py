"""Fixed-window rate limiter in Redis (contract 7.1), shared by every web process."""

from __future__ import annotations

from pathlib import Path

from flylive.lua_scripts import lua_text
from flylive.redis_batch import BatchedScript
from flylive.redis_types import AsyncRedis

LUA_DIR = Path(__file__).resolve().parent / "lua"


class FixedWindowRateLimiter:
    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis
        # Through the loop's auto-pipeline: every rate-limited event costs this call.
        self._hit = BatchedScript(redis, redis.register_script(lua_text(LUA_DIR, "ratelimit_hit.lua")))

    async def allow(self, bucket: str, user_key: str, *, limit: int, window_seconds: int) -> bool:
        """Count one hit on `ratelimit:{bucket}:{user_key}`; True iff still within `limit`."""
        key = f"ratelimit:{bucket}:{user_key}"
        return int(await self._hit(keys=[key], args=[window_seconds])) <= limit

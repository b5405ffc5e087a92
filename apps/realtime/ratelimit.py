"""Fixed-window rate limiter in Redis (contract 7.1), shared by every web process."""

from __future__ import annotations

from flylive.redis_types import AsyncRedis


class FixedWindowRateLimiter:
    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis

    async def allow(self, bucket: str, user_key: str, *, limit: int, window_seconds: int) -> bool:
        """Count one hit on `ratelimit:{bucket}:{user_key}`; True iff still within `limit`."""
        key = f"ratelimit:{bucket}:{user_key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds, nx=True)  # the window starts at the first hit
            result = await pipe.execute()
        if not result:  # an aborted transaction counts as "not allowed", like the baseline
            return False
        return int(result[0]) <= limit

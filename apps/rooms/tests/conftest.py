"""Fixtures for the rooms tests: a clean Redis DB on the session's real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis, from_url

from apps.rooms.repository import RoomRepository
from tests.support.processes import RedisServer


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = from_url(redis_server.url(db=5))
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def repo(redis: Redis) -> RoomRepository:
    return RoomRepository(redis)

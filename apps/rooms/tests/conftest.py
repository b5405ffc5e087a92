"""Fixtures for the rooms tests: a clean Redis DB on the session's real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from apps.rooms.repository import RoomRepository
from tests.support.processes import RedisServer, clean_redis_db


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    async with clean_redis_db(redis_server, 5) as client:
        yield client


@pytest.fixture
def repo(redis: Redis) -> RoomRepository:
    return RoomRepository(redis)

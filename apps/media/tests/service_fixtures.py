"""Fixtures for the media service tests (import them into a test module to use them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import Redis

from tests.support.processes import RedisServer, clean_redis_db

MEDIA_TEST_DB = 6


@pytest.fixture
async def media_redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A clean Redis DB for one test."""
    async with clean_redis_db(redis_server, MEDIA_TEST_DB) as client:
        yield client


@pytest.fixture
async def channel_layer(redis_server: RedisServer) -> AsyncIterator[RedisPubSubChannelLayer]:
    layer = RedisPubSubChannelLayer(hosts=[redis_server.url(db=MEDIA_TEST_DB)], prefix="flylive")
    try:
        yield layer
    finally:
        await layer.flush()

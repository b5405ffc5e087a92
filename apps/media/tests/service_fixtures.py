"""Fixtures for the media service tests (import them into a test module to use them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import Redis

from apps.media.media_settings import MediaSettings
from tests.support.processes import RedisServer, clean_redis_db

MEDIA_TEST_DB = 6


def loopback_media_settings(workers: int, **changes: Any) -> MediaSettings:
    """A media node on 127.0.0.1 with the contract's limits; `changes` override any field."""
    fields: dict[str, Any] = {
        "num_workers": workers,
        "listen_ip": "127.0.0.1",
        "announced_ip": None,
        "rtc_min_port": 40000,
        "rtc_max_port": 40100,
        "worker_bin": None,
        "max_rooms_per_worker": 100,
        "max_listeners_per_distribution_router": 700,
        "max_active_speakers_forwarded": 3,
    }
    return MediaSettings(**{**fields, **changes})


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

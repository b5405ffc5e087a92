"""Fixtures for the rooms tests: a clean Redis DB on the session's real redis-server, and `h`,
a RoomService on it that talks to a real (fake) Laravel over HTTP and records what it sends
to sockets, groups and media."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.integrations.laravel_client import LaravelClient
from apps.media.gateway import MediaUnavailableError
from apps.rooms.keys import state_key
from apps.rooms.repository import RoomRepository
from apps.rooms.service import RoomService
from apps.rooms.tests.fakes import EmitRecorder
from apps.rooms.tests.media_double import FIXED_RTP_CAPABILITIES
from apps.seats.repository import SeatRepository
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer, clean_redis_db


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    async with clean_redis_db(redis_server, 5) as client:
        yield client


@pytest.fixture
def repo(redis: Redis) -> RoomRepository:
    return RoomRepository(redis)


KEY = "internal-key-internal-key-internal-key-01"


@dataclass
class Harness:
    service: RoomService
    redis: Redis
    laravel: FakeLaravel
    emits: EmitRecorder
    group_messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    media_released: list[tuple[str, str]] = field(default_factory=list)
    media_down: bool = False

    async def count(self, room_id: str) -> int:
        raw = await self.redis.get(state_key(room_id))
        assert raw is not None
        return int(json.loads(raw)["participantCount"])

    async def statuses(self, room_id: str) -> list[Any]:
        await self.service.drain()
        return [r.json for r in self.laravel.requests_to(f"/api/v1/internal/rooms/{room_id}/status")]


@pytest.fixture
async def h(redis: Redis) -> AsyncIterator[Harness]:
    async with FakeLaravel() as laravel:
        http = LaravelClient(laravel.url, KEY, timeout_ms=1000)
        emits = EmitRecorder()
        harness: Harness

        async def ensure_media(room_id: str) -> dict[str, Any]:
            if harness.media_down:
                raise MediaUnavailableError("no media")
            return FIXED_RTP_CAPABILITIES

        async def group_send(room_id: str, message: dict[str, Any]) -> None:
            harness.group_messages.append((room_id, message))

        async def release_media(room_id: str, reason: str) -> None:
            harness.media_released.append((room_id, reason))

        service = RoomService(RoomRepository(redis), laravel=http, ensure_media=ensure_media, emit=emits,
                              group_send=group_send, release_media=release_media, activity_ttl_ms=30000,
                              leave_hooks=[])
        harness = Harness(service, redis, laravel, emits)
        yield harness
        await service.drain()
        await http.aclose()


async def seat(redis: Redis, room_id: str, user_id: int, index: int) -> None:
    """Sit a user through the seats app's own script (as seat:take would)."""
    await SeatRepository(redis, default_seat_count=15).take(room_id, user_id, index)

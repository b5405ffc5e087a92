"""Owner and admin checks against a real HTTP stand-in for Laravel: what is cached, what is
shared, and that a slow or failing Laravel answers `Authorization check failed` in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from apps.integrations.laravel_client import LaravelClient
from apps.realtime.event_registry import ClientError
from apps.seats.permissions import RoomAuthority
from tests.support.fake_laravel import FakeLaravel

ROOM_PATH = "/api/v1/internal/rooms/r1"


def role_path(user: int) -> str:
    return f"{ROOM_PATH}/members/{user}/role"


@pytest.fixture
async def laravel() -> AsyncIterator[FakeLaravel]:
    async with FakeLaravel() as fake:
        fake.respond(ROOM_PATH, 200, {"owner_id": 1, "name": "room"})
        yield fake


@pytest.fixture
async def authority(laravel: FakeLaravel) -> AsyncIterator[RoomAuthority]:
    client = LaravelClient(laravel.url, "k" * 40, timeout_ms=5000)
    yield RoomAuthority(client, owner_ttl_seconds=30, role_ttl_seconds=30, timeout_seconds=0.5)
    await client.aclose()


async def answer(work: object) -> str | None:
    try:
        await work  # type: ignore[misc]
    except ClientError as error:
        return error.message
    return None


async def test_owner_check_uses_laravel_and_caches_it(authority: RoomAuthority, laravel: FakeLaravel) -> None:
    assert await answer(authority.require_owner("r1", 1)) is None
    assert await answer(authority.require_owner("r1", 2)) == "Not authorized"
    assert await answer(authority.require_owner("r1", 1.0)) is None  # 1 and 1.0 are one JS number
    assert len(laravel.requests_to(ROOM_PATH)) == 1


async def test_concurrent_checks_share_one_request(authority: RoomAuthority, laravel: FakeLaravel) -> None:
    laravel.respond(ROOM_PATH, 200, {"owner_id": 1}, delay_seconds=0.2)
    laravel.respond(role_path(5), 200, {"role": "admin"}, delay_seconds=0.2)
    results = await asyncio.gather(*(answer(authority.require_manager("r1", 5)) for _ in range(30)))
    assert results == [None] * 30
    assert len(laravel.requests_to(ROOM_PATH)) == 1
    assert len(laravel.requests_to(role_path(5))) == 1


async def test_a_warm_manager_check_makes_no_call(authority: RoomAuthority, laravel: FakeLaravel) -> None:
    laravel.respond(role_path(5), 200, {"role": "admin"})
    laravel.respond(role_path(6), 200, {"role": "member"})
    assert await answer(authority.require_manager("r1", 5)) is None
    assert await answer(authority.require_manager("r1", 6)) == "Not authorized"
    assert await answer(authority.require_manager("r1", 1)) is None  # the owner
    calls = len(laravel.requests)
    for user in (5, 6, 1):
        await answer(authority.require_manager("r1", user))
    assert len(laravel.requests) == calls


async def test_not_a_member_is_not_authorized(authority: RoomAuthority, laravel: FakeLaravel) -> None:
    laravel.respond(role_path(7), 404, {"message": "not a member"})
    assert await answer(authority.require_manager("r1", 7)) == "Not authorized"


async def test_slow_laravel_fails_within_the_timeout(authority: RoomAuthority, laravel: FakeLaravel) -> None:
    laravel.respond(ROOM_PATH, 200, {"owner_id": 1}, delay_seconds=2)
    laravel.respond(role_path(5), 200, {"role": "admin"}, delay_seconds=2)
    started = time.monotonic()
    assert await answer(authority.require_owner("r1", 1)) == "Authorization check failed"
    assert await answer(authority.require_manager("r1", 5)) == "Authorization check failed"
    assert time.monotonic() - started < 1.5


async def test_failures_are_not_cached(authority: RoomAuthority, laravel: FakeLaravel) -> None:
    laravel.respond(ROOM_PATH, 500, {"error": "down"})
    laravel.respond(role_path(5), 500, {"error": "down"})
    assert await answer(authority.require_owner("r1", 1)) == "Authorization check failed"
    assert await answer(authority.require_manager("r1", 5)) == "Authorization check failed"
    laravel.respond(ROOM_PATH, 200, {"owner_id": "1"})  # a string owner is not an owner id
    assert await answer(authority.require_owner("r1", 1)) == "Authorization check failed"
    laravel.respond(ROOM_PATH, 200, {"owner_id": 1})
    assert await answer(authority.require_owner("r1", 1)) is None


async def test_an_admin_passes_even_when_the_owner_lookup_fails(authority: RoomAuthority,
                                                                laravel: FakeLaravel) -> None:
    laravel.respond(ROOM_PATH, 503, {})
    laravel.respond(role_path(5), 200, {"role": "admin"})
    assert await answer(authority.require_manager("r1", 5)) is None

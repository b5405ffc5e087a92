"""The Laravel HTTP client against a real HTTP server (tests/support/fake_laravel.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from apps.integrations.laravel_client import ROOM_STATUS, LaravelClient, LaravelError, iso_now
from flylive.metrics import REGISTRY
from tests.support.fake_laravel import FakeLaravel

KEY = "k" * 40


@pytest.fixture
async def laravel() -> AsyncIterator[FakeLaravel]:
    async with FakeLaravel() as fake:
        yield fake


@pytest.fixture
async def client(laravel: FakeLaravel) -> AsyncIterator[LaravelClient]:
    http = LaravelClient(laravel.url, KEY, timeout_ms=500)
    yield http
    await http.aclose()


def calls(endpoint: str, status: str) -> float:
    labels = {"endpoint": endpoint, "status": status}
    value = REGISTRY.get_sample_value("flylive_laravel_api_calls_total", labels)
    return value or 0.0


async def test_room_status_sends_contract_headers(client: LaravelClient, laravel: FakeLaravel) -> None:
    before = calls(ROOM_STATUS, "200")
    await client.post_room_status("42", is_live=True, participant_count=3)
    [request] = laravel.requests_to("/api/v1/internal/rooms/42/status")
    assert request.method == "POST"
    assert request.json == {"is_live": True, "participant_count": 3}
    assert request.headers["X-Internal-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert calls(ROOM_STATUS, "200") == before + 1
    latency_name = "flylive_laravel_api_latency_seconds_count"
    latency = REGISTRY.get_sample_value(latency_name, {"endpoint": ROOM_STATUS})
    assert latency is not None
    assert latency >= 1


async def test_close_status_carries_ended_at(client: LaravelClient, laravel: FakeLaravel) -> None:
    ended = iso_now()
    await client.post_room_status("7", is_live=False, participant_count=0, ended_at=ended)
    assert laravel.requests[0].json == {"is_live": False, "participant_count": 0, "ended_at": ended}
    assert ended.endswith("Z")
    assert len(ended) == len("2026-02-12T00:00:00.000Z")


async def test_non_2xx_raises_and_is_counted(client: LaravelClient, laravel: FakeLaravel) -> None:
    laravel.respond("/api/v1/internal/rooms/1/status", 500, {"message": "boom"})
    before = calls(ROOM_STATUS, "500")
    with pytest.raises(LaravelError) as caught:
        await client.post_room_status("1", is_live=True, participant_count=0)
    assert caught.value.status == 500
    assert calls(ROOM_STATUS, "500") == before + 1


async def test_slow_laravel_times_out(client: LaravelClient, laravel: FakeLaravel) -> None:
    laravel.respond("/api/v1/internal/rooms/1/status", delay_seconds=2)
    before = calls(ROOM_STATUS, "timeout")
    with pytest.raises(LaravelError, match="timed out"):
        await client.post_room_status("1", is_live=True, participant_count=0)
    assert calls(ROOM_STATUS, "timeout") == before + 1


async def test_room_details_and_member_role(client: LaravelClient, laravel: FakeLaravel) -> None:
    laravel.respond("/api/v1/internal/rooms/5", body={"owner_id": 9, "name": "x"})
    laravel.respond("/api/v1/internal/rooms/5/members/42/role", body={"role": "admin"})
    laravel.respond("/api/v1/internal/rooms/5/members/43/role", 404, {"message": "not found"})
    assert (await client.get_room("5"))["owner_id"] == 9
    assert await client.get_member_role("5", 42.0) == "admin"
    assert await client.get_member_role("5", 43) is None
    assert all(r.method == "GET" and r.headers["X-Internal-Key"] == KEY for r in laravel.requests)


async def test_unreachable_laravel_raises(laravel: FakeLaravel) -> None:
    await laravel.stop()
    http = LaravelClient(laravel.url, KEY, timeout_ms=500)
    try:
        with pytest.raises(LaravelError):
            await http.post_room_status("1", is_live=True, participant_count=0)
    finally:
        await http.aclose()


async def test_every_path_segment_is_percent_encoded(client: LaravelClient, laravel: FakeLaravel) -> None:
    """Called directly with hostile ids (room:join refuses them first), nothing leaves its segment."""
    await client.post_room_status("1/../../../admin/users/7/ban?", is_live=True, participant_count=0)
    await client.get_room("..")
    await client.get_member_role("a#b c", 7)
    assert [request.raw_path for request in laravel.requests] == [
        "/api/v1/internal/rooms/1%2F..%2F..%2F..%2Fadmin%2Fusers%2F7%2Fban%3F/status",
        "/api/v1/internal/rooms/%2E%2E",
        "/api/v1/internal/rooms/a%23b%20c/members/7/role",
    ]
    # Each id stays one path segment: the route Laravel matches is the one the client meant.
    assert [request.raw_path.count("/") for request in laravel.requests] == [6, 5, 8]


async def test_plain_ids_are_unchanged(client: LaravelClient, laravel: FakeLaravel) -> None:
    await client.get_member_role("9f1c2d3e-aaaa-4bbb-8ccc-0123456789ab", 12.5)
    assert laravel.requests[0].raw_path == (
        "/api/v1/internal/rooms/9f1c2d3e-aaaa-4bbb-8ccc-0123456789ab/members/12.5/role")

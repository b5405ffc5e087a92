"""/health, /metrics and /metrics/prometheus through Django, on real Redis servers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.test import AsyncClient
from redis.asyncio import Redis, from_url

from apps.integrations.laravel_client import LaravelClient
from apps.media.node_registry import MEDIA_NODES_KEY
from apps.rooms.repository import RoomRepository
from apps.rooms.schemas import participant_entry
from apps.rooms.service import RoomService, forget_room_service, use_room_service
from apps.rooms.tests.fakes import EmitRecorder, claims
from tests.support.processes import run_redis_server

CONTRACT_METRICS = (
    "flylive_socket_connections_total", "flylive_rooms_active", "flylive_socket_events_total",
    "flylive_socket_event_latency_seconds", "flylive_mediasoup_workers_active",
    "flylive_mediasoup_routers_per_worker", "flylive_gifts_processed_total", "flylive_gift_batch_size",
    "flylive_laravel_api_calls_total", "flylive_laravel_api_latency_seconds", "flylive_auth_attempts_total",
    "flylive_laravel_events_received_total",
)


async def _no_media(room_id: str) -> dict[str, Any]:
    raise AssertionError("not used")


async def _no_group(room_id: str, message: dict[str, Any]) -> None:
    return None


async def _no_media_release(room_id: str, reason: str) -> None:
    return None


def install_service(redis: Redis) -> RoomService:
    laravel = LaravelClient("http://127.0.0.1:9", "k" * 32, timeout_ms=100)
    service = RoomService(RoomRepository(redis), laravel=laravel, ensure_media=_no_media, emit=EmitRecorder(),
                          group_send=_no_group, release_media=_no_media_release, activity_ttl_ms=30000,
                          leave_hooks=[])
    use_room_service(service)
    return service


@pytest.fixture
async def http(redis: Redis) -> AsyncIterator[AsyncClient]:
    install_service(redis)
    yield AsyncClient()
    forget_room_service()


async def register_node(redis: Redis, node_id: str, active: int, expected: int, *, age_ms: int = 0,
                        extra: dict[str, Any] | None = None) -> None:
    updated_at = int(time.time() * 1000) - age_ms
    info = {"workers": {"active": active, "expected": expected}, "updatedAt": updated_at,
            "rooms": 1, "routers": 3, "capacity": 100, "channel": f"media.rpc.{node_id}", "pid": 4242,
            "draining": False, "extra": extra or {}}
    await redis.hset(MEDIA_NODES_KEY, node_id, json.dumps(info))


async def test_health_is_ok_with_redis_and_live_workers(http: AsyncClient, redis: Redis) -> None:
    await register_node(redis, "n1", 2, 2)
    response = await http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "workers", "uptime", "timestamp"}
    assert body["status"] == "ok"
    assert body["workers"] == {"active": 2, "expected": 2}
    assert isinstance(body["uptime"], float)
    assert body["timestamp"].endswith("Z")
    # Encoded like the Node server's JSON.stringify: compact, in the contract's key order.
    assert response.content.startswith(b'{"status":"ok","workers":{"active":2,"expected":2},"uptime":')


async def test_health_is_degraded_without_a_live_media_node(http: AsyncClient, redis: Redis) -> None:
    response = await http.get("/health")
    assert (response.status_code, response.json()["status"]) == (503, "degraded")
    await register_node(redis, "stale", 4, 4, age_ms=11_000)
    response = await http.get("/health")
    assert response.status_code == 503
    assert response.json()["workers"] == {"active": 0, "expected": 0}


async def test_health_needs_half_of_the_expected_workers(http: AsyncClient, redis: Redis) -> None:
    await register_node(redis, "n1", 1, 4)
    await register_node(redis, "n2", 0, 2)
    response = await http.get("/health")
    assert (response.status_code, response.json()["workers"]) == (503, {"active": 1, "expected": 6})
    await register_node(redis, "n2", 2, 2)
    response = await http.get("/health")
    assert (response.status_code, response.json()["workers"]) == (200, {"active": 3, "expected": 6})


async def test_health_is_degraded_when_redis_is_down() -> None:
    with run_redis_server() as server:
        redis: Redis = from_url(server.url(), socket_timeout=0.5, socket_connect_timeout=0.5)
        await register_node(redis, "n1", 2, 2)
        install_service(redis)
        assert (await AsyncClient().get("/health")).status_code == 200
        server.proc.terminate()
        server.proc.wait(timeout=5)
        started = time.monotonic()
        response = await AsyncClient().get("/health")
        assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    await redis.aclose()
    forget_room_service()


async def open_room(redis: Redis, room_id: str) -> None:
    """A room as a first join leaves it (state, membership, the rooms index)."""
    await RoomRepository(redis).join(room_id, f"sid-{room_id}", 1, participant_entry(claims(1)),
                                     now_ms=1, activity_ttl_ms=30000)


async def test_metrics_json_has_the_contract_shape(http: AsyncClient, redis: Redis) -> None:
    await register_node(redis, "n1", 2, 2, extra={"workers": [{"pid": 11, "routerCount": 2},
                                                             {"pid": 12, "routerCount": 1}]})
    await open_room(redis, "a")
    await open_room(redis, "b")
    response = await http.get("/metrics")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"system", "application", "timestamp"}
    system = body["system"]
    assert set(system) == {"uptime", "memory", "cpu", "loadAverage", "freemem", "totalmem"}
    assert set(system["memory"]) == {"rss", "heapTotal", "heapUsed", "external"}
    assert set(system["cpu"]) == {"user", "system"}
    assert len(system["loadAverage"]) == 3
    assert body["application"] == {
        "rooms": 2, "activeWorkers": 2, "expectedWorkers": 2,
        "workers": [{"pid": 11, "routerCount": 2}, {"pid": 12, "routerCount": 1}],
        "concurrency": body["application"]["concurrency"],
    }
    assert body["application"]["concurrency"] >= 1


async def test_prometheus_text_has_every_contract_metric(http: AsyncClient, redis: Redis) -> None:
    await register_node(redis, "n1", 3, 4)
    await open_room(redis, "a")
    response = await http.get("/metrics/prometheus")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.content.decode()
    for name in CONTRACT_METRICS:
        assert f"# TYPE {name}" in text or f"# HELP {name}" in text, name
    assert "\nflylive_rooms_active 1.0\n" in text
    assert "\nflylive_mediasoup_workers_active 3.0\n" in text
    assert 'flylive_mediasoup_routers_per_worker{worker_pid="4242"} 3.0' in text


@pytest.mark.parametrize(("method", "path"), [("POST", "/health"), ("PUT", "/metrics"),
                                             ("DELETE", "/metrics/prometheus"), ("POST", "/no/such/route")])
async def test_other_methods_and_routes_get_a_json_404(http: AsyncClient, method: str, path: str) -> None:
    response = await http.generic(method, path)
    assert response.status_code == 404
    assert response.json() == {"message": f"Route {method}:{path} not found", "error": "Not Found",
                               "statusCode": 404}

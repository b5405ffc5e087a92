"""/health and /metrics cost the same whatever Redis holds: no SCAN (nor KEYS) reaches Redis
and no file is opened per request beyond psutil's read of this process's memory
(/metrics/prometheus: prometheus_client's standard process metrics, this process's own
/proc entries)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from django.test import AsyncClient
from redis.asyncio import Redis

from apps.rooms.keys import ACTIVE_ROOMS_KEY, state_key
from apps.rooms.service import forget_room_service
from apps.rooms.tests.test_views import install_service, register_node

_recording: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _recording:
        _recording[-1].append(str(args[0]))


sys.addaudithook(_audit)  # cannot be removed: it records only inside `opened_files()`


@pytest.fixture
def opened_files() -> Iterator[list[str]]:
    paths: list[str] = []
    _recording.append(paths)
    try:
        yield paths
    finally:
        _recording.remove(paths)


@pytest.fixture
async def http(redis: Redis) -> AsyncIterator[AsyncClient]:
    install_service(redis)
    yield AsyncClient()
    forget_room_service()


async def command_calls(redis: Redis, *commands: str) -> int:
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in commands)


PROCESS_FILES = {f"/proc/{os.getpid()}/statm", "/proc/self/statm"}  # psutil's memory_info


@pytest.mark.parametrize("path", ["/health", "/metrics", "/metrics/prometheus"])
async def test_endpoints_do_no_scan_and_read_no_files(http: AsyncClient, redis: Redis, path: str,
                                                      opened_files: list[str]) -> None:
    await register_node(redis, "n1", 2, 2)
    for n in range(50):  # enough state that a SCAN would be many calls
        await redis.set(state_key(f"cost-{n}"), "{}")
        await redis.zadd(ACTIVE_ROOMS_KEY, {f"cost-{n}": n})
    assert (await http.get(path)).status_code == 200  # warm: one-time reads happen here
    opened_files.clear()
    scans_before = await command_calls(redis, "scan", "keys")
    for _ in range(5):
        response = await http.get(path)
        assert response.status_code == 200
    assert await command_calls(redis, "scan", "keys") == scans_before
    if path == "/metrics/prometheus":
        own = (f"/proc/{os.getpid()}/", "/proc/self/")
        assert all(name.startswith(own) for name in opened_files), opened_files
    else:
        assert set(opened_files) <= PROCESS_FILES, opened_files
    if path == "/metrics":
        assert response.json()["application"]["rooms"] == 50

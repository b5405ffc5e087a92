"""The server's own HTTP endpoints (contract 9): /health, /metrics, /metrics/prometheus, as async
DRF views (flylive.http.ContractEndpoint) whose bodies stay the contract's bytes.

Every web process answers from shared state, so any of them gives the same
picture: Redis reachability, the media nodes' registration in `media:nodes`
(an entry older than 10 s is a dead node) and the room count (ZCARD of `rooms:active`).

Cheap per request, whatever the scrape rate: one PING, one HGETALL and one ZCARD; no
SCAN and no file reads beyond psutil's own process memory. What is static (start time,
total memory, CPU count) is read once; system-wide figures that cost a /proc read (free
memory, load average) are refreshed at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import time
from dataclasses import dataclass
from typing import Any

import psutil
from django.http import HttpResponse
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from rest_framework.request import Request
from rest_framework.response import Response

from apps.gifts.stats import GIFT_STATS  # imported here, not at the first scrape (which reads no file)
from apps.integrations.laravel_client import iso_now
from apps.media.node_registry import NodeInfo, NodeRegistry
from apps.rooms.repository import RoomRepository
from apps.rooms.service import room_service
from flylive.http import ContractEndpoint
from flylive.metrics import (
    EVENT_LOOP_TASKS,
    GIFT_BUFFER_SIZE,
    MEDIA_NODE_LISTENERS,
    MEDIA_NODE_PIPES,
    MEDIA_NODE_REMOTE_LISTENERS,
    MEDIA_NODE_SPANS,
    MEDIASOUP_ROUTER_CAPACITY,
    MEDIASOUP_ROUTERS,
    MEDIASOUP_ROUTERS_PER_WORKER,
    MEDIASOUP_WORKER_CPU,
    MEDIASOUP_WORKER_DEATHS,
    MEDIASOUP_WORKERS_ACTIVE,
    ROOMS_ACTIVE,
    render_latest,
)
from flylive.redis_types import AsyncRedis

logger = logging.getLogger(__name__)

REDIS_PING_TIMEOUT_SECONDS = 1.0
SHARED_STATE_TIMEOUT_SECONDS = 2.0
SYSTEM_FIGURES_MAX_AGE_SECONDS = 1.0
_PROCESS = psutil.Process()
# Static: read once.
_STARTED_MONOTONIC = time.monotonic() - max(0.0, time.time() - float(_PROCESS.create_time()))
_TOTAL_MEMORY = int(psutil.virtual_memory().total)
_CPU_COUNT = os.cpu_count() or 1


@dataclass(frozen=True)
class _SystemFigures:
    read_at: float
    freemem: int
    load_average: list[float]


_system_figures: list[_SystemFigures] = []


def _recent_system_figures() -> _SystemFigures:
    """Free memory and load average (each a /proc read), at most SYSTEM_FIGURES_MAX_AGE_SECONDS old."""
    now = time.monotonic()
    if not _system_figures or now - _system_figures[0].read_at > SYSTEM_FIGURES_MAX_AGE_SECONDS:
        _system_figures[:] = [_SystemFigures(now, int(psutil.virtual_memory().available),
                                             list(os.getloadavg()))]
    return _system_figures[0]


@dataclass(frozen=True)
class MediaPicture:
    active: int
    expected: int
    workers: list[dict[str, int]]  # {"pid", "routerCount"} per worker
    nodes: int
    live: dict[str, NodeInfo] | None = None  # the live nodes' heartbeats, by node id


def _repo() -> RoomRepository:
    return room_service().repo


def process_uptime() -> float:
    return time.monotonic() - _STARTED_MONOTONIC


async def redis_is_up(redis: AsyncRedis) -> bool:
    try:
        return bool(await asyncio.wait_for(redis.ping(), REDIS_PING_TIMEOUT_SECONDS))
    except Exception:
        return False


# The registry of the last Redis client asked about (one per loop in practice): building one
# reads its Lua scripts from disk, which a request must not do.
_registry: list[tuple[AsyncRedis, NodeRegistry]] = []


def _node_registry(redis: AsyncRedis) -> NodeRegistry:
    if not _registry or _registry[0][0] is not redis:
        _registry[:] = [(redis, NodeRegistry(redis))]
    return _registry[0][1]


async def media_picture(redis: AsyncRedis) -> MediaPicture:
    """Workers of the live media nodes; nothing known (all zero) when Redis cannot be read."""
    try:
        nodes = await asyncio.wait_for(_node_registry(redis).live_nodes(int(time.time() * 1000)),
                                       SHARED_STATE_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("could not read media:nodes", exc_info=True)
        return MediaPicture(0, 0, [], 0)
    return MediaPicture(
        active=sum(info.workers.active for info in nodes.values()),
        expected=sum(info.workers.expected for info in nodes.values()),
        workers=[worker for info in nodes.values() for worker in _workers_of(info)],
        nodes=len(nodes),
        live=nodes,
    )


def _workers_of(info: NodeInfo) -> list[dict[str, int]]:
    """Per-worker entries from the node's `extra.workers` ([{pid, routerCount}]), else one per node."""
    listed = info.extra.get("workers")
    if isinstance(listed, list):
        entries = []
        for worker in listed:
            if isinstance(worker, dict) and "pid" in worker:
                entries.append({"pid": int(worker["pid"]), "routerCount": int(worker.get("routerCount", 0))})
        return entries
    return [{"pid": info.pid, "routerCount": info.routers}]


async def active_rooms(repo: RoomRepository) -> int:
    try:
        return await asyncio.wait_for(repo.active_room_count(), SHARED_STATE_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("could not count rooms", exc_info=True)
        return 0


def is_healthy(redis_up: bool, media: MediaPicture) -> bool:
    """Redis answers, a media node is alive and at least half of its workers are live."""
    if not redis_up or media.nodes == 0:
        return False
    if media.expected == 0:
        return media.active > 0
    return media.active >= media.expected / 2


class Health(ContractEndpoint):
    async def get(self, request: Request) -> Response:
        redis = _repo().redis
        redis_up = await redis_is_up(redis)
        media = await media_picture(redis) if redis_up else MediaPicture(0, 0, [], 0)
        healthy = is_healthy(redis_up, media)
        body = {
            "status": "ok" if healthy else "degraded",
            "workers": {"active": media.active, "expected": media.expected},
            "uptime": process_uptime(),
            "timestamp": iso_now(),
        }
        return Response(body, status=200 if healthy else 503)


def _system() -> dict[str, Any]:
    # Python has no V8 heap: heapTotal is the virtual size, heapUsed the resident size.
    memory = _PROCESS.memory_info()
    usage = resource.getrusage(resource.RUSAGE_SELF)  # a system call, no file
    figures = _recent_system_figures()
    return {
        "uptime": process_uptime(),
        "memory": {"rss": memory.rss, "heapTotal": memory.vms, "heapUsed": memory.rss, "external": 0},
        "cpu": {"user": int(usage.ru_utime * 1_000_000), "system": int(usage.ru_stime * 1_000_000)},
        "loadAverage": figures.load_average,
        "freemem": figures.freemem,
        "totalmem": _TOTAL_MEMORY,
    }


class Metrics(ContractEndpoint):
    async def get(self, request: Request) -> Response:
        repo = _repo()
        media, rooms = await asyncio.gather(media_picture(repo.redis), active_rooms(repo))
        return Response({
            "system": _system(),
            "application": {
                "rooms": rooms,
                "activeWorkers": media.active,
                "expectedWorkers": media.expected,
                "workers": media.workers,
                "concurrency": _CPU_COUNT,
            },
            "timestamp": iso_now(),
        })


async def refresh_gift_stats(redis: AsyncRedis) -> None:
    """The gift flush's figures, as the Celery workers left them in Redis (one HGETALL); the last
    ones read stay when Redis cannot say."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(GIFT_STATS.refresh(redis), SHARED_STATE_TIMEOUT_SECONDS)


async def gift_backlog(redis: AsyncRedis) -> int | None:
    """Transactions waiting in the gift buffer (one LLEN); None when Redis cannot say."""
    from apps.gifts.keys import PENDING_KEY

    try:
        return int(await asyncio.wait_for(redis.llen(PENDING_KEY), SHARED_STATE_TIMEOUT_SECONDS))
    except Exception:
        return None


def _set_media_gauges(media: MediaPicture) -> None:
    MEDIASOUP_WORKERS_ACTIVE.set(media.active)
    # Reset then set, as the baseline does at each scrape: a worker or node that is gone disappears.
    MEDIASOUP_ROUTERS_PER_WORKER.clear()
    for worker in media.workers:
        MEDIASOUP_ROUTERS_PER_WORKER.labels(worker_pid=str(worker["pid"])).set(worker["routerCount"])
    nodes = media.live or {}
    MEDIASOUP_ROUTERS.set(sum(info.routers for info in nodes.values()))
    MEDIASOUP_ROUTER_CAPACITY.set(sum(info.capacity for info in nodes.values()))
    MEDIASOUP_WORKER_CPU.clear()
    MEDIASOUP_WORKER_DEATHS.clear()
    # Where listeners and pipes are (rooms across nodes): per node, from its heartbeat's `extra`.
    span_gauges = {"listeners": MEDIA_NODE_LISTENERS, "remoteListeners": MEDIA_NODE_REMOTE_LISTENERS,
                   "pipes": MEDIA_NODE_PIPES, "spans": MEDIA_NODE_SPANS}
    for gauge in span_gauges.values():
        gauge.clear()
    for node_id, info in nodes.items():
        for key, gauge in span_gauges.items():
            value = info.extra.get(key)
            if isinstance(value, int):
                gauge.labels(node=node_id).set(value)
        deaths = info.extra.get("workerDeaths")
        if isinstance(deaths, int):
            MEDIASOUP_WORKER_DEATHS.labels(node=node_id).set(deaths)
        listed = info.extra.get("workers")
        for worker in listed if isinstance(listed, list) else []:
            if isinstance(worker, dict) and isinstance(worker.get("cpu"), int | float) and "pid" in worker:
                MEDIASOUP_WORKER_CPU.labels(node=node_id, worker_pid=str(worker["pid"])).set(worker["cpu"])


class PrometheusMetrics(ContractEndpoint):
    async def get(self, request: Request) -> HttpResponse:
        repo = _repo()
        media, rooms, backlog, _ = await asyncio.gather(
            media_picture(repo.redis), active_rooms(repo), gift_backlog(repo.redis),
            refresh_gift_stats(repo.redis))
        ROOMS_ACTIVE.set(rooms)
        EVENT_LOOP_TASKS.set(len(asyncio.all_tasks()))
        if backlog is not None:
            GIFT_BUFFER_SIZE.set(backlog)
        _set_media_gauges(media)
        # The contract's (prom-client's) text format 0.0.4, which generate_latest writes.
        return HttpResponse(render_latest(), content_type=CONTENT_TYPE_PLAIN_0_0_4)

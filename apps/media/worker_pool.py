"""The media node's mediasoup workers (contract 4.3, with the fixes of the issue).

One worker per slot, each with its own WebRtcServer on MEDIASOUP_RTC_MIN_PORT + slot
(udp and tcp). Routers are counted per worker; `least_loaded` picks the worker with
the fewest routers below MAX_ROOMS_PER_WORKER. A worker that dies leaves the pool
at once (its rooms are the service's business, told through `on_worker_died`) and
its slot is refilled in the background with exponential backoff, forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from apps.media.media_objects import CreateWorker, RouterLike, WorkerLike, load_create_worker
from apps.media.media_settings import MediaSettings

logger = logging.getLogger(__name__)

# Router media codecs (contract 4.2): exactly one, Opus stereo with in-band FEC.
MEDIA_CODECS: list[dict[str, Any]] = [
    {
        "kind": "audio",
        "mimeType": "audio/opus",
        "clockRate": 48000,
        "channels": 2,
        "parameters": {"useinbandfec": 1, "usedtx": 0, "minptime": 10, "sprop-stereo": 1},
    }
]
LOG_TAGS = ["info", "ice", "dtls", "rtp", "srtp", "rtcp"]


class NoWorkerAvailableError(RuntimeError):
    """Every live worker is at MAX_ROOMS_PER_WORKER routers (or none is alive)."""


@dataclass(eq=False)
class PooledWorker:
    slot: int  # position in the pool: fixes the WebRtcServer port
    worker: WorkerLike
    webrtc_server: Any  # the worker's WebRtcServer, or None: per-transport ports
    router_count: int = 0
    alive: bool = True
    routers: set[str] = field(default_factory=set)

    @property
    def pid(self) -> int:
        return self.worker.pid


WorkerDiedCallback = Callable[[PooledWorker], Awaitable[None]]


class WorkerPool:
    def __init__(self, settings: MediaSettings, on_worker_died: WorkerDiedCallback,
                 create_worker: CreateWorker | None = None) -> None:
        self.settings = settings
        self._create_worker = create_worker or load_create_worker()
        self.on_worker_died = on_worker_died
        self.workers: list[PooledWorker] = []
        self._closing = False
        self._respawns: set[asyncio.Task[None]] = set()
        self.deaths = 0  # workers that died since start (heartbeat -> flylive_mediasoup_worker_deaths_total)

    @property
    def expected(self) -> int:
        return self.settings.num_workers

    @property
    def active(self) -> int:
        return sum(1 for w in self.workers if w.alive)

    @property
    def router_total(self) -> int:
        return sum(w.router_count for w in self.workers if w.alive)

    @property
    def capacity(self) -> int:
        return self.active * self.settings.max_rooms_per_worker

    async def start(self) -> None:
        """Create every worker; any failure aborts start-up (and closes what was made)."""
        try:
            for slot in range(self.settings.num_workers):
                self.workers.append(await self._spawn(slot))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._closing = True
        for task in list(self._respawns):
            task.cancel()
        await asyncio.gather(*self._respawns, return_exceptions=True)
        for pooled in self.workers:
            pooled.alive = False
            with contextlib.suppress(Exception):
                await pooled.worker.close()
        self.workers.clear()

    def least_loaded(self, *, exclude: set[int] | None = None) -> PooledWorker:
        """The live worker with the fewest routers under the cap (ties: lowest slot); `exclude` holds pids."""
        limit = self.settings.max_rooms_per_worker
        eligible = [
            w
            for w in self.workers
            if w.alive and w.router_count < limit and (not exclude or w.pid not in exclude)
        ]
        if not eligible:
            raise NoWorkerAvailableError(
                f"All workers at capacity ({self.active} alive, {limit} routers each)"
            )
        return min(eligible, key=lambda w: (w.router_count, w.slot))

    async def create_router(self, pooled: PooledWorker) -> RouterLike:
        """A router on `pooled`, counted against it until it closes."""
        pooled.router_count += 1  # counted before the await so concurrent picks see it
        try:
            router = await pooled.worker.create_router(media_codecs=MEDIA_CODECS)
        except BaseException:
            pooled.router_count = max(0, pooled.router_count - 1)
            raise
        pooled.routers.add(router.id)

        def uncount(*_: Any) -> None:
            if router.id in pooled.routers:
                pooled.routers.discard(router.id)
                pooled.router_count = max(0, pooled.router_count - 1)

        router.observer.on("close", uncount)
        return router

    async def _spawn(self, slot: int) -> PooledWorker:
        s = self.settings
        worker = await self._create_worker(
            log_level="warn",
            log_tags=LOG_TAGS,
            rtc_min_port=s.rtc_min_port,
            rtc_max_port=s.rtc_max_port,
            worker_bin=s.worker_bin,
        )
        server = await self._create_webrtc_server(worker, slot)
        pooled = PooledWorker(slot, worker, server)
        worker.on("died", lambda *_: self._died(pooled))
        logger.info(
            "mediasoup worker %d ready (pid %d, WebRtcServer %s)",
            slot,
            worker.pid,
            f"on port {s.rtc_min_port + slot}" if server else "none",
        )
        return pooled

    async def _create_webrtc_server(self, worker: WorkerLike, slot: int) -> Any:
        s = self.settings
        port = s.rtc_min_port + slot
        infos: list[dict[str, Any]] = []
        for protocol in ("udp", "tcp"):
            info: dict[str, Any] = {"protocol": protocol, "ip": s.listen_ip, "port": port}
            if s.announced_ip:
                info["announcedAddress"] = s.announced_ip
            infos.append(info)
        try:
            return await worker.create_webrtc_server(listen_infos=infos)
        except Exception:
            # Contract 4.3: the worker still serves, with per-transport ports.
            logger.exception("WebRtcServer on port %d failed; worker %d uses per-transport ports", port, slot)
            return None

    def _died(self, pooled: PooledWorker) -> None:
        if not pooled.alive or self._closing:
            return
        pooled.alive = False
        self.deaths += 1
        logger.error("mediasoup worker %d (pid %d) died", pooled.slot, pooled.pid)
        task = asyncio.get_running_loop().create_task(self._replace(pooled))
        self._respawns.add(task)
        task.add_done_callback(self._respawns.discard)

    async def _replace(self, dead: PooledWorker) -> None:
        try:
            await self.on_worker_died(dead)
        except Exception:
            logger.exception("closing the rooms of dead worker %d failed", dead.slot)
        delay = self.settings.respawn_initial_delay
        attempt = 0
        while not self._closing:
            await asyncio.sleep(delay)
            attempt += 1
            try:
                fresh = await self._spawn(dead.slot)
            except Exception:
                logger.exception(
                    "respawning worker %d failed (attempt %d); next in %.1fs",
                    dead.slot,
                    attempt,
                    min(delay * 2, self.settings.respawn_max_delay),
                )
                delay = min(delay * 2, self.settings.respawn_max_delay)
                continue
            if self._closing:
                await fresh.worker.close()
                return
            self.workers = [fresh if w is dead else w for w in self.workers]
            logger.info("worker %d replaced after %d attempt(s)", dead.slot, attempt)
            return

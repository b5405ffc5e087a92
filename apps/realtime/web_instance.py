"""This web process's liveness record: one instance per event loop that serves sockets.

The first socket that connects on a loop starts its instance: an id, an entry in
`web:instances` stamped every WEB_INSTANCE_HEARTBEAT_MS (Redis clock), and a sweep every
WEB_INSTANCE_SWEEP_INTERVAL_MS that cleans up after instances silent for
WEB_INSTANCE_DEAD_AFTER_MS (dead_instance_sweep.py). Sockets are recorded under their
instance by the socket registry on connect and dropped on disconnect; the rooms app
records their room (`record_socket_room`).

If this instance finds its entry gone, the `web:instance:{id}:registered` marker (written
with every beat, left alone by sweeps) tells why:
- marker there: it stalled past the threshold and was swept, so its sockets were already
  cleaned up elsewhere: it takes a new id and `on_declared_dead` closes the sockets of the
  old one, so their clients reconnect to a consistent state;
- marker gone too: Redis lost its data (restarted empty, failed over): the instance
  registers again under the same id and `on_reregistered` writes its sockets' records
  again (user socket sets, instance records). Nothing is closed.
While Redis does not answer, the heartbeat retries every RETRY_SECONDS (not every
heartbeat), so the instance is registered again within that long of Redis answering.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from apps.realtime.dead_instance_sweep import DeadInstanceSweeper
from apps.realtime.event_registry import SocketSession
from apps.realtime.instance_keys import INSTANCES_KEY, instance_registered_key
from apps.realtime.loop_services import RealtimeServices, get_services
from flylive.cancellation import reraise_if_cancelled
from flylive.lua_scripts import lua_text
from flylive.redis_types import AsyncPipeline, ReplyReader

logger = logging.getLogger(__name__)

_HEARTBEAT_LUA = lua_text(Path(__file__).resolve().parent / "lua", "instance_heartbeat.lua")

DeclaredDead = Callable[[str], None]
Reregistered = Callable[[str], Awaitable[None]]

RETRY_SECONDS = 0.25  # heartbeat retry while Redis fails
STOP_TIMEOUT_SECONDS = 5.0
# The `registered` marker outlives any plausible stall; refreshed with every beat.
REGISTERED_MARKER_TTL_MS = 24 * 3600 * 1000
STAMPED, SWEPT, REREGISTERED = 1, 0, 2


def new_instance_id() -> str:
    """host:pid:random, so an operator can tell which process an id was."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class WebInstance:
    def __init__(self, services: RealtimeServices, *, on_declared_dead: DeclaredDead | None = None,
                 on_reregistered: Reregistered | None = None) -> None:
        config = services.config
        self.services = services
        self.id = new_instance_id()
        self.heartbeat_seconds = config.WEB_INSTANCE_HEARTBEAT_MS / 1000
        self.sweep_seconds = config.WEB_INSTANCE_SWEEP_INTERVAL_MS / 1000
        self.on_declared_dead = on_declared_dead
        self.on_reregistered = on_reregistered
        self.sweeper = DeadInstanceSweeper(services.redis, services.sockets,
                                           dead_after_ms=config.WEB_INSTANCE_DEAD_AFTER_MS, own_id=self.id)
        self._heartbeat = services.redis.register_script(_HEARTBEAT_LUA)
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def started(self) -> bool:
        return bool(self._tasks)

    async def ensure_started(self) -> str:
        """Create the entry (before any socket is recorded under it) and start the loops; the id."""
        if not self._tasks:
            async with self._start_lock:
                if not self._tasks:
                    await self._stamp(create=True)
                    self._tasks = [
                        asyncio.create_task(self._heartbeat_loop(), name="web instance heartbeat"),
                        asyncio.create_task(self._sweep_loop(), name="web instance sweep"),
                    ]
                    logger.info("web instance %s started", self.id)
        return self.id

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a stop must never hang its caller (shutdown, tests), whatever a loop does.
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_SECONDS)
            for task in stuck:
                logger.error("web instance %s: %s did not stop", self.id, task.get_name())
        self._tasks = []

    async def _stamp(self, *, create: bool) -> int:
        keys = [INSTANCES_KEY, instance_registered_key(self.id)]
        return int(await self._heartbeat(keys=keys, args=[self.id, "1" if create else "0",
                                                          REGISTERED_MARKER_TTL_MS]))

    async def beat(self) -> int:
        """One heartbeat; what it found (STAMPED, SWEPT or REREGISTERED), after acting on it."""
        outcome = await self._stamp(create=False)
        if outcome == SWEPT:
            self._declared_dead()
            await self._stamp(create=True)
        elif outcome == REREGISTERED:
            logger.warning("web instance %s: its Redis entry was lost with Redis's data; "
                           "registered again, re-recording its sockets", self.id)
            if self.on_reregistered is not None:
                await self.on_reregistered(self.id)
        return outcome

    async def _heartbeat_loop(self) -> None:
        delay = self.heartbeat_seconds
        while True:
            await asyncio.sleep(delay)
            try:
                await self.beat()
                delay = self.heartbeat_seconds
            except Exception as exc:  # Redis down: retry soon; the sweep threshold spans several beats
                reraise_if_cancelled(exc)
                if delay == self.heartbeat_seconds:
                    logger.warning("web instance %s heartbeat failed: %r", self.id, exc)
                delay = min(RETRY_SECONDS, self.heartbeat_seconds)

    def _declared_dead(self) -> None:
        old = self.id
        self.id = self.sweeper.own_id = new_instance_id()
        logger.error("web instance %s was declared dead and swept; continuing as %s", old, self.id)
        if self.on_declared_dead is not None:
            self.on_declared_dead(old)

    async def _sweep_loop(self) -> None:
        while True:
            # Jittered, so processes started together do not all race for each claim.
            await asyncio.sleep(self.sweep_seconds * random.uniform(0.8, 1.2))
            try:
                await self.sweeper.sweep_once()
            except Exception as exc:
                reraise_if_cancelled(exc)
                logger.warning("dead web instance sweep failed: %r", exc)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WebInstance] = weakref.WeakKeyDictionary()


def web_instance(services: RealtimeServices, *, on_declared_dead: DeclaredDead | None = None,
                 on_reregistered: Reregistered | None = None) -> WebInstance:
    """The running loop's instance (made on first use; not started until `ensure_started`)."""
    loop = asyncio.get_running_loop()
    instance = _by_loop.get(loop)
    if instance is None:
        instance = _by_loop[loop] = WebInstance(services, on_declared_dead=on_declared_dead,
                                                on_reregistered=on_reregistered)
    return instance


def forget_web_instance() -> WebInstance | None:
    """Drop the running loop's instance (tests; stop it first)."""
    return _by_loop.pop(asyncio.get_running_loop(), None)


def queue_socket_room(pipe: AsyncPipeline, session: SocketSession, room_id: str) -> ReplyReader[None]:
    """`record_socket_room(session, room_id)` queued on the caller's pipeline (the room join
    records the socket's room in its own round trip, ahead of the membership)."""
    if session.instance_id is None:
        return _no_reply
    return get_services().sockets.queue_set_room(pipe, session.instance_id, session.sid, room_id)


def _no_reply(replies: Iterator[Any]) -> None:
    return None


async def record_socket_room(session: SocketSession, room_id: str | None) -> None:
    """Record (None: clear) the room of a socket this process serves; others are ignored."""
    if session.instance_id is not None:
        await get_services().sockets.set_room(session.instance_id, session.sid, room_id)

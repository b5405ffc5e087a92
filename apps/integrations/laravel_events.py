"""Events Laravel publishes on Redis pub/sub (contract 8.3, 8.4), delivered to the clients.

Every web process subscribes to MSAB_EVENTS_CHANNEL on a connection of its own and delivers
each message to **its own sockets only**: the user's sockets connected to this process, the
room's members connected to this process, or every socket of this process. Every process
receives every message, so each target socket gets it exactly once however many processes
run (the baseline emitted through the Socket.IO adapter from every instance: one duplicate per
instance). Which sockets are the user's or the room's comes from Redis (`user:{id}:sockets`,
the room's members hash), intersected with this process's sockets.

    subscriber = LaravelEventsSubscriber.from_config(config)
    await subscriber.start()          # web process start-up (apps/realtime/routing.py)
    await subscriber.stop()

Message (8.3): a JSON object with a string `event`, `user_id` and `room_id` each present and
null or a number, `payload` an object (default `{}`); `timestamp` and `correlation_id` are
optional and only logged. Anything else is dropped with one warning. Reserved Socket.IO event
names (`connect`, `disconnect`, ...) are dropped too: socket.io refuses to emit them.
Only `event` and `payload` reach clients.

The subscription runs in one task that only queues raw messages (a bounded queue,
MSAB_EVENTS_QUEUE_SIZE: beyond it messages are dropped and counted in
`flylive_laravel_events_dropped_total{reason="queue_full"}`); another task parses and delivers
them. After a Redis error the subscription is made again (backoff min(attempt x 50 ms, 2 s), the
contract's reconnect delay); messages published while it was down are lost (pub/sub keeps none).
Each message is counted in `flylive_laravel_events_received_total{event_type, delivered}`,
`delivered` meaning this process delivered it to at least one socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apps.realtime.codec import event_frame
from apps.realtime.redis_client import create_subscriber_redis
from flylive.cancellation import reraise_if_cancelled
from flylive.config import AppConfig
from flylive.js_number import js_number
from flylive.metrics import LARAVEL_EVENTS_DROPPED, LARAVEL_EVENTS_RECEIVED
from flylive.redis_types import AsyncRedis

logger = logging.getLogger(__name__)

# socket.io's RESERVED_EVENTS: emitting one throws in the baseline.
RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener",
                             "removeListener"})
RECONNECT_STEP_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 2.0
# A long outage logs its first failure, then one line per this many.
_LOG_EVERY_FAILURES = 100


class InvalidLaravelEvent(ValueError):
    """A message that is not a valid Laravel event (the reason says why)."""


@dataclass(frozen=True)
class LaravelEvent:
    event: str
    user_id: int | float | None
    room_id: int | float | None
    payload: dict[str, Any]
    correlation_id: str = "unknown"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JavaScript's JSON.parse refuses NaN/Infinity


def _number_or_null(message: dict[str, Any], key: str) -> int | float | None:
    if key not in message:
        raise InvalidLaravelEvent(f"`{key}` is missing")
    value = message[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidLaravelEvent(f"`{key}` must be null or a number")
    return value


def parse_laravel_event(raw: str | bytes) -> LaravelEvent:
    """Validate one pub/sub message (contract 8.3); InvalidLaravelEvent says what is wrong."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        message = json.loads(text, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidLaravelEvent("not JSON") from None
    if not isinstance(message, dict):
        raise InvalidLaravelEvent("not a JSON object")
    name = message.get("event")
    if not isinstance(name, str):
        raise InvalidLaravelEvent("`event` must be a string")
    if name in RESERVED_EVENTS:
        raise InvalidLaravelEvent(f"`{name}` is a reserved Socket.IO event name")
    user_id = _number_or_null(message, "user_id")
    room_id = _number_or_null(message, "room_id")
    payload = message.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidLaravelEvent("`payload` must be an object")
    correlation_id = message.get("correlation_id")
    return LaravelEvent(name, user_id, room_id, payload,
                        correlation_id if isinstance(correlation_id, str) else "unknown")


UserSockets = Callable[[int | float], Awaitable[Iterable[str]]]
RoomMembers = Callable[[str], Awaitable[Iterable[str]]]


class LocalDelivery:
    """Routes one event to this process's sockets (contract 8.4, decided by user_id / room_id only)."""

    def __init__(self, *, user_sockets: UserSockets, room_members: RoomMembers,
                 local_socket: Callable[[str], Any], local_socket_ids: Callable[[], list[str]]) -> None:
        self.user_sockets = user_sockets
        self.room_members = room_members
        self.local_socket = local_socket
        self.local_socket_ids = local_socket_ids

    @classmethod
    def for_this_process(cls) -> LocalDelivery:
        from apps.realtime import emit
        from apps.realtime.loop_services import get_services
        from apps.rooms.service import room_member_sids

        async def user_sockets(user_id: int | float) -> Iterable[str]:
            return await get_services().sockets.sockets_of(user_id)

        return cls(user_sockets=user_sockets, room_members=room_member_sids,
                   local_socket=emit.local_socket, local_socket_ids=emit.local_socket_ids)

    async def targets(self, event: LaravelEvent) -> list[str]:
        """The socket ids of this process the event goes to."""
        if event.user_id is None and event.room_id is None:
            return self.local_socket_ids()
        candidates: set[str] | None = None
        if event.user_id is not None:
            candidates = {sid for sid in await self.user_sockets(event.user_id)
                          if self.local_socket(sid) is not None}
            if not candidates:
                return []
        if event.room_id is not None:
            members = {sid for sid in await self.room_members(js_number(event.room_id))
                       if self.local_socket(sid) is not None}
            candidates = members if candidates is None else candidates & members
        return sorted(candidates or ())

    async def deliver(self, event: LaravelEvent) -> int:
        """Send the event to its sockets of this process; how many got it."""
        sids = await self.targets(event)
        if not sids:
            return 0
        frame = event_frame(event.event, event.payload)  # encoded once for every socket
        delivered = 0
        for sid in sids:
            socket = self.local_socket(sid)
            if socket is not None:  # it may have gone while Redis answered
                socket.send_frame(frame)
                delivered += 1
        return delivered


RedisFactory = Callable[[], AsyncRedis]


class LaravelEventsSubscriber:
    def __init__(self, channel: str, redis_factory: RedisFactory, delivery: LocalDelivery, *,
                 queue_size: int = 10000) -> None:
        self.channel = channel
        self.redis_factory = redis_factory
        self.delivery = delivery
        self.queue: asyncio.Queue[bytes | str] = asyncio.Queue(maxsize=queue_size)
        self.subscribed = asyncio.Event()  # set while the subscription is live (tests, health)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_config(cls, config: AppConfig, delivery: LocalDelivery | None = None) -> LaravelEventsSubscriber:
        def redis_factory() -> AsyncRedis:
            return create_subscriber_redis(config)  # a subscribed connection can do nothing else

        return cls(config.MSAB_EVENTS_CHANNEL, redis_factory, delivery or LocalDelivery.for_this_process(),
                   queue_size=config.MSAB_EVENTS_QUEUE_SIZE)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._subscribe_loop(), name="laravel events subscription"),
            asyncio.create_task(self._deliver_loop(), name="laravel events delivery"),
        ]
        logger.info("subscribed to Laravel events on %s", self.channel)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.subscribed.clear()

    # -- receiving -------------------------------------------------------------------------

    async def _subscribe_loop(self) -> None:
        failures = 0
        while True:
            redis = self.redis_factory()
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                if failures:
                    logger.info("Laravel events subscription back after %d failed attempts", failures)
                failures = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._queue(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reraise_if_cancelled(exc)
                self.subscribed.clear()
                failures += 1
                if failures == 1 or failures % _LOG_EVERY_FAILURES == 0:
                    logger.warning("Laravel events subscription lost (attempt %d): %r", failures, exc)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._close(pubsub, redis))
            await asyncio.sleep(min(failures * RECONNECT_STEP_SECONDS, RECONNECT_MAX_SECONDS))

    @staticmethod
    async def _close(pubsub: Any, redis: AsyncRedis) -> None:
        await pubsub.aclose()
        await redis.aclose()

    def _queue(self, data: bytes | str) -> None:
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            LARAVEL_EVENTS_DROPPED.labels(reason="queue_full").inc()
            logger.warning("Laravel event dropped: %d events already wait for delivery", self.queue.qsize())

    # -- delivering ------------------------------------------------------------------------

    async def _deliver_loop(self) -> None:
        while True:
            data = await self.queue.get()
            try:
                await self.handle(data)
            except Exception as exc:
                reraise_if_cancelled(exc)
                logger.exception("Laravel event delivery failed")

    async def handle(self, data: bytes | str) -> int:
        """Validate and deliver one raw message; how many sockets of this process got it."""
        try:
            event = parse_laravel_event(data)
        except InvalidLaravelEvent as invalid:
            LARAVEL_EVENTS_DROPPED.labels(reason="invalid").inc()
            logger.warning("invalid Laravel event dropped (%s): %.200r", invalid, data)
            return 0
        try:
            delivered = await self.delivery.deliver(event)
        except Exception:
            LARAVEL_EVENTS_RECEIVED.labels(event_type=event.event, delivered="false").inc()
            raise
        outcome = "true" if delivered else "false"
        LARAVEL_EVENTS_RECEIVED.labels(event_type=event.event, delivered=outcome).inc()
        logger.debug("Laravel event %s (cid %s) delivered to %d sockets", event.event, event.correlation_id,
                     delivered)
        return delivered


# -- the web process's subscriber ----------------------------------------------------------

_subscriber: list[LaravelEventsSubscriber] = []


async def start_laravel_events() -> None:
    """Start this process's subscriber (web process start-up), unless MSAB_EVENTS_ENABLED is off."""
    from flylive.config import get_config

    config = get_config()
    if not config.MSAB_EVENTS_ENABLED or _subscriber:
        return
    subscriber = LaravelEventsSubscriber.from_config(config)
    _subscriber.append(subscriber)
    await subscriber.start()


async def stop_laravel_events() -> None:
    """Stop it (web process shutdown)."""
    while _subscriber:
        await _subscriber.pop().stop()

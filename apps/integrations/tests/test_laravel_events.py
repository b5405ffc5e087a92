"""Laravel events (contract 8.3, 8.4): message validation, routing to this process's sockets,
and the subscriber against a real redis-server (bad messages, a full queue, a Redis restart)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.integrations.laravel_events import (
    InvalidLaravelEvent,
    LaravelEvent,
    LaravelEventsSubscriber,
    LocalDelivery,
    parse_laravel_event,
)
from flylive.metrics import REGISTRY
from tests.support.processes import free_port, wait_for_port

CHANNEL = "flylive:msab:events"


def message(**fields: Any) -> str:
    base: dict[str, Any] = {"event": "balance.updated", "user_id": 42, "room_id": None,
                            "payload": {"coins": 5}}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


def test_a_valid_message_and_its_defaults() -> None:
    assert parse_laravel_event(message(correlation_id="c1")) == LaravelEvent(
        "balance.updated", 42, None, {"coins": 5}, "c1")
    parsed = parse_laravel_event(message(payload=..., user_id=None, room_id=7.5).encode())
    assert (parsed.payload, parsed.user_id, parsed.room_id) == ({}, None, 7.5)
    assert parsed.correlation_id == "unknown"


@pytest.mark.parametrize("raw", [
    "not json", "[1, 2]", '"text"', "null",
    message(event=5), message(event=None), message(event=...),
    message(user_id=...), message(room_id=...), message(room_id="42"), message(user_id=True),
    message(user_id=[1]), '{"event": "x", "user_id": NaN, "room_id": null}',
    message(payload=[1]), message(payload="x"), message(payload=None),
    message(event="disconnect"), message(event="connect"),
    b"\xff\xfe",
])
def test_invalid_messages_are_refused(raw: str | bytes) -> None:
    with pytest.raises(InvalidLaravelEvent):
        parse_laravel_event(raw)


class FakeSocket:
    def __init__(self) -> None:
        self.frames: list[str] = []

    def send_frame(self, frame: str) -> None:
        self.frames.append(frame)


class World:
    """This process's sockets, and who is whose / in which room according to Redis."""

    def __init__(self) -> None:
        self.local = {sid: FakeSocket() for sid in ("a1", "a2", "b1", "c1")}
        self.users = {42: ["a1", "a2", "remote-a3"], 7: ["b1"], 8: ["c1"]}
        self.rooms = {"77": ["a1", "b1", "remote-x"], "1.5": ["c1"]}

    async def user_sockets(self, user_id: int | float) -> Iterable[str]:
        return self.users.get(int(user_id), [])

    async def room_members(self, room_id: str) -> Iterable[str]:
        return self.rooms.get(room_id, [])

    def delivery(self) -> LocalDelivery:
        return LocalDelivery(user_sockets=self.user_sockets, room_members=self.room_members,
                             local_socket=self.local.get, local_socket_ids=lambda: list(self.local))

    def got(self) -> dict[str, int]:
        return {sid: len(s.frames) for sid, s in self.local.items() if s.frames}


@pytest.mark.parametrize(("user_id", "room_id", "expected"), [
    (42, None, {"a1": 1, "a2": 1}),  # the user's sockets on this process
    (None, 77, {"a1": 1, "b1": 1}),  # the room's members on this process
    (42, 77, {"a1": 1}),  # the user's sockets in the room
    (None, None, {"a1": 1, "a2": 1, "b1": 1, "c1": 1}),  # everyone here
    (99, None, {}), (None, 78, {}), (7, 1.5, {}), (None, 1.5, {"c1": 1}),
])
async def test_routing_reaches_this_process_sockets_once(user_id: Any, room_id: Any,
                                                         expected: dict[str, int]) -> None:
    world = World()
    event = LaravelEvent("level.up", user_id, room_id, {"level": 3})
    assert await world.delivery().deliver(event) == len(expected)
    assert world.got() == expected
    for sid in expected:
        assert world.local[sid].frames == ['42["level.up",{"level":3}]']


def counted(event_type: str, delivered: str) -> float:
    return REGISTRY.get_sample_value("flylive_laravel_events_received_total",
                                     {"event_type": event_type, "delivered": delivered}) or 0.0


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("flylive_laravel_events_dropped_total", {"reason": reason}) or 0.0


# -- the subscriber against a real redis-server, which a test can restart on the same port --

class RestartableRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="flylive-redis-restart-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir.name],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/3"


@pytest.fixture(scope="module")
def restartable() -> Iterator[RestartableRedis]:
    server = RestartableRedis()
    server.start()
    yield server
    server.stop()
    server.dir.cleanup()


@pytest.fixture
async def publisher(restartable: RestartableRedis) -> AsyncIterator[Redis]:
    if restartable.proc is None or restartable.proc.poll() is not None:
        restartable.start()
    client: Redis = Redis.from_url(restartable.url)
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def subscriber_of(restartable: RestartableRedis, delivery: LocalDelivery,
                        queue_size: int = 100) -> AsyncIterator[LaravelEventsSubscriber]:
    subscriber = LaravelEventsSubscriber(CHANNEL, lambda: Redis.from_url(restartable.url), delivery,
                                         queue_size=queue_size)
    await subscriber.start()
    await asyncio.wait_for(subscriber.subscribed.wait(), 5)
    try:
        yield subscriber
    finally:
        await subscriber.stop()


async def wait_for(check: Any, within: float = 5.0) -> None:
    """Poll what other tasks do (metrics, fake sockets) until `check()` holds."""
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


async def test_published_events_are_delivered_and_counted(restartable: RestartableRedis,
                                                          publisher: Redis) -> None:
    world = World()
    before_true, before_false = counted("reward.earned", "true"), counted("reward.earned", "false")
    async with subscriber_of(restartable, world.delivery()):
        await publisher.publish(CHANNEL, message(event="reward.earned"))
        await publisher.publish(CHANNEL, message(event="reward.earned", user_id=12345))
        await wait_for(lambda: counted("reward.earned", "false") == before_false + 1)
    assert world.got() == {"a1": 1, "a2": 1}
    assert counted("reward.earned", "true") == before_true + 1


async def test_a_bad_message_is_dropped_with_one_warning_and_the_next_is_delivered(
        restartable: RestartableRedis, publisher: Redis, caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    before = dropped("invalid")
    async with subscriber_of(restartable, world.delivery()) as subscriber:
        with caplog.at_level(logging.WARNING, logger="apps.integrations.laravel_events"):
            await publisher.publish(CHANNEL, '{"event": "x", "room_id": null}')
            await publisher.publish(CHANNEL, message())
            await wait_for(lambda: world.got() == {"a1": 1, "a2": 1})
        assert subscriber.running
    warnings = [r for r in caplog.records
                if r.name == "apps.integrations.laravel_events" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "`user_id` is missing" in warnings[0].getMessage()
    assert dropped("invalid") == before + 1


async def test_a_full_queue_drops_and_counts(restartable: RestartableRedis, publisher: Redis) -> None:
    release = asyncio.Event()
    delivered: list[LaravelEvent] = []

    class Stuck(LocalDelivery):
        async def deliver(self, event: LaravelEvent) -> int:
            await release.wait()
            delivered.append(event)
            return 1

    world = World()
    stuck = Stuck(user_sockets=world.user_sockets, room_members=world.room_members,
                  local_socket=world.local.get, local_socket_ids=lambda: list(world.local))
    before = dropped("queue_full")
    async with subscriber_of(restartable, stuck, queue_size=3) as subscriber:
        for n in range(10):
            await publisher.publish(CHANNEL, message(payload={"n": n}))
        await wait_for(lambda: dropped("queue_full") == before + 6)  # 1 being delivered + 3 queued
        release.set()
        await wait_for(lambda: len(delivered) == 4)
        assert subscriber.queue.qsize() == 0
    assert [e.payload["n"] for e in delivered] == [0, 1, 2, 3]


async def test_the_subscription_comes_back_after_a_redis_restart(restartable: RestartableRedis,
                                                                 publisher: Redis) -> None:
    world = World()
    async with subscriber_of(restartable, world.delivery()) as subscriber:
        await publisher.publish(CHANNEL, message())
        await wait_for(lambda: world.got() == {"a1": 1, "a2": 1})
        restartable.stop()
        await wait_for(lambda: not subscriber.subscribed.is_set())
        restartable.start()
        await asyncio.wait_for(subscriber.subscribed.wait(), 10)
        again: Redis = Redis.from_url(restartable.url)
        try:
            await again.publish(CHANNEL, message())
        finally:
            await again.aclose()
        await wait_for(lambda: world.got() == {"a1": 2, "a2": 2})

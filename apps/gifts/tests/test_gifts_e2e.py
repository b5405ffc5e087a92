"""Gifts end to end: the real server process, a real Celery worker and beat flushing the buffer
every 200 ms, real Redis, a migrated SQLite database shared by them, and Laravel's gift endpoint
as a real HTTP server that accepts, rejects some transactions, errors or is down.

Every gift ends accepted exactly once or in the dead-letter table, and its sender is told of
every rejection; a worker killed (SIGKILL) while Laravel works on its batch loses nothing and,
once Laravel accepts, nothing is accepted twice. The room's session history row comes out of
the same run (opened by the web process, closed by Celery's auto-close)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.gifts.keys import PENDING_KEY, PROCESSING_INDEX_KEY
from apps.gifts.tests.gift_laravel import GiftLaravel
from apps.realtime.tests.conftest import metric_value, scrape
from tests.support.celery_procs import CeleryProcess, run_celery_beat, run_celery_worker
from tests.support.processes import RedisServer, process_env, repo_root
from tests.support.server import LiveServer, run_server, server_env
from tests.support.sio_client import RecordingClient

DB = 2
_rooms = itertools.count(1)
_users = itertools.count(500)




@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gifts-e2e") / "db.sqlite3"


def migrated_gift_env(redis: RedisServer, laravel_port: int, database: Path,
                      **redis_vars: str) -> dict[str, str]:
    """The module's processes' environment (a 200 ms flush, batches of 20, a 1 s idle room), with
    the database migrated. `redis_vars`: where state goes (a DB of `redis`, or a Cluster)."""
    env = server_env(redis, **redis_vars, LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LARAVEL_API_TIMEOUT_MS="3000", DATABASE_URL=f"sqlite:///{database}", LOG_LEVEL="info",
                     GIFT_BUFFER_FLUSH_INTERVAL_MS="200", GIFT_FLUSH_LOCK_TTL_MS="1500", GIFT_BATCH_SIZE="20",
                     ROOM_INACTIVITY_TIMEOUT_MS="1000", ROOM_AUTO_CLOSE_POLL_INTERVAL_MS="500")
    subprocess.run([str(repo_root() / ".venv" / "bin" / "python"), "manage.py", "migrate", "--noinput"],
                   cwd=repo_root(), env=process_env(env), check=True, capture_output=True, timeout=120)
    return env


@pytest.fixture(scope="module")
def env(own_redis: RedisServer, laravel_port: int, database: Path) -> dict[str, str]:
    return migrated_gift_env(own_redis, laravel_port, database, REDIS_DB=str(DB))


@pytest.fixture(scope="module")
def live(env: dict[str, str]) -> Iterator[LiveServer]:
    with run_server(env, server="uvicorn") as server:
        yield server


@pytest.fixture(scope="module")
def beat(env: dict[str, str]) -> Iterator[CeleryProcess]:
    with run_celery_beat(env) as process:
        yield process


class Workers:
    """The module's Celery worker, which a test may kill and replace."""

    def __init__(self, env: dict[str, str], stack: contextlib.ExitStack) -> None:
        self.env = env
        self.stack = stack
        self.count = 0
        self.current = self._start()

    def _start(self) -> CeleryProcess:
        self.count += 1
        return self.stack.enter_context(run_celery_worker(self.env, name=f"gifts-{self.count}"))

    def kill_and_replace(self) -> None:
        self.current.proc.kill()
        self.current.proc.wait(timeout=10)
        self.current = self._start()


@pytest.fixture(scope="module")
def workers(env: dict[str, str], beat: CeleryProcess) -> Iterator[Workers]:
    with contextlib.ExitStack() as stack:
        yield Workers(env, stack)


@pytest.fixture
def worker(workers: Workers) -> CeleryProcess:
    return workers.current


@pytest.fixture
async def laravel(laravel_port: int) -> AsyncIterator[GiftLaravel]:
    async with GiftLaravel(port=laravel_port) as server:
        yield server


@pytest.fixture
async def redis(own_redis: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(own_redis.url(DB), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def clients(live: LiveServer, laravel: GiftLaravel) -> AsyncIterator[Callable[..., Any]]:
    made: list[RecordingClient] = []

    async def connect(count: int, *, room: str) -> list[RecordingClient]:
        joined = []
        for _ in range(count):
            client = await RecordingClient(next(_users)).connect(live)
            made.append(client)
            assert "rtpCapabilities" in await client.call("room:join", {"roomId": room})
            joined.append(client)
        for client in joined:
            client.clear()
        return joined

    yield connect
    for client in made:
        await client.close()


def rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database, timeout=5) as db:
        return db.execute(sql).fetchall()


async def send_gifts(client: RecordingClient, room: str, quantities: list[int]) -> None:
    """Quickly, but in bursts of 8: a socket may have 16 events in flight (event_runner.py)."""
    for n, quantity in enumerate(quantities, 1):
        payload = {"roomId": room, "giftId": 3, "recipientId": 9, "quantity": quantity}
        await client.sio.emit("gift:send", payload)
        if n % 8 == 0:
            await asyncio.sleep(0.05)


async def pending_ids(redis: Redis) -> list[str]:
    import json

    return [json.loads(item)["transaction_id"] for item in await redis.lrange(PENDING_KEY, 0, -1)]


async def test_gift_events_reach_the_room_and_the_flush_reaches_laravel(
        clients: Any, laravel: GiftLaravel, worker: CeleryProcess) -> None:
    room = f"ge-{next(_rooms)}"
    sender, viewer = await clients(2, room=room)
    [stranger] = await clients(1, room=f"ge-other-{next(_rooms)}")

    await sender.sio.emit("gift:prepare", {"roomId": room, "giftId": 3, "recipientId": 9})
    assert await viewer.wait_for("gift:prepare") == [{"giftId": 3, "recipientId": 9}]
    await stranger.sio.emit("gift:prepare", {"roomId": room, "giftId": 4, "recipientId": 9})  # not a member

    await sender.sio.emit("gift:send", {"roomId": room, "giftId": 3, "recipientId": 9})
    assert await viewer.wait_for("gift:received") == [
        {"senderId": sender.user_id, "roomId": room, "giftId": 3, "recipientId": 9, "quantity": 1}]
    await laravel.wait_for_batches(1)
    [tx] = laravel.batches[0]
    assert tx["transaction_id"].startswith("g_")
    assert {k: v for k, v in tx.items() if k not in ("transaction_id", "timestamp")} == {
        "room_id": room, "sender_id": sender.user_id, "recipient_id": 9, "gift_id": 3, "quantity": 1}

    await stranger.sio.emit("gift:send", {"roomId": room, "giftId": 3, "recipientId": 9})
    assert await stranger.wait_for("error") == [{"message": "Room not found"}]
    await sender.sio.emit("gift:send", {"roomId": room, "giftId": 0, "recipientId": 9})
    [invalid] = await sender.wait_for("error")
    assert invalid == {"message": "Invalid gift payload", "errors": {
        "_errors": [], "giftId": {"_errors": ["Number must be greater than 0"]}}}
    await asyncio.sleep(0.3)
    assert sender.received("gift:received") == []
    assert sender.received("gift:prepare") == []
    assert len(viewer.received("gift:received")) == 1
    assert len(viewer.received("gift:prepare")) == 1
    await laravel.wait_until(lambda: len(laravel.accepted) == 1)
    assert sender.received("gift:error") == []


async def test_the_gift_rate_limit_is_30_a_minute(clients: Any, laravel: GiftLaravel,
                                                   worker: CeleryProcess) -> None:
    room = f"ge-{next(_rooms)}"
    sender, viewer = await clients(2, room=room)
    await sender.sio.emit("gift:send", {"roomId": room})  # invalid ones count too
    await send_gifts(sender, room, [1] * 30)
    errors = await sender.wait_for("error", 2)
    assert errors[1] == {"message": "Too many gifts, please slow down"}
    assert len(await viewer.wait_for("gift:received", 29)) == 29
    await laravel.wait_until(lambda: len(laravel.accepted) == 29)


async def test_every_gift_is_accepted_once_or_its_sender_told(
        clients: Any, laravel: GiftLaravel, worker: CeleryProcess, redis: Redis) -> None:
    room = f"ge-{next(_rooms)}"
    senders = await clients(3, room=room)
    laravel.reject = lambda tx: (4002, "Insufficient balance") if tx["quantity"] == 7 else None
    laravel.status = 503  # Laravel is failing: batches come back to the queue
    quantities = [1, 7, 2, 3, 7, 4, 5, 6, 7, 8]
    await asyncio.gather(*(send_gifts(s, room, quantities) for s in senders))
    await laravel.wait_for_batches(2)
    laravel.status = 200
    await laravel.wait_until(lambda: len(laravel.accepted) + len(laravel.rejected) == 30)
    assert len(laravel.accepted) == 21
    assert set(laravel.accepted.values()) == {1}
    for sender in senders:
        errors = await sender.wait_for("gift:error", 3)
        assert {e["code"] for e in errors} == {4002}
        assert {e["reason"] for e in errors} == {"Insufficient balance"}
        assert {e["transactionId"] for e in errors} <= set(laravel.rejected)
    assert await redis.llen(PENDING_KEY) == 0


async def test_gifts_laravel_never_takes_are_dead_lettered_and_replayed(
        clients: Any, laravel: GiftLaravel, worker: CeleryProcess, env: dict[str, str], database: Path,
        redis: Redis) -> None:
    room = f"ge-{next(_rooms)}"
    [sender] = await clients(1, room=room)
    await laravel.stop()  # down
    await send_gifts(sender, room, [1, 2])
    errors = await sender.wait_for("gift:error", 2, within=15)
    assert {e["code"] for e in errors} == {"PROCESSING_FAILED"}
    assert {e["reason"] for e in errors} == {"Gift processing failed after multiple attempts"}
    dead = rows(database, "SELECT transaction_id, attempts, last_error FROM gifts_giftdeadletter")
    assert sorted(d[0] for d in dead) == sorted(e["transactionId"] for e in errors)
    assert {d[1] for d in dead} == {3}
    assert all("POST /gifts/batch" in d[2] for d in dead)

    await laravel.start()
    command = [str(repo_root() / ".venv" / "bin" / "python"), "manage.py", "replay_gifts"]
    replay = await asyncio.to_thread(subprocess.run, command, cwd=repo_root(), env=process_env(env),
                                     capture_output=True, text=True, timeout=60)
    assert "2 gift transaction(s) queued again" in replay.stdout, replay.stderr
    await laravel.wait_until(lambda: len(laravel.accepted) == 2)
    assert set(laravel.accepted) == {e["transactionId"] for e in errors}
    assert rows(database, "SELECT COUNT(*) FROM gifts_giftdeadletter") == [(0,)]


async def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
        clients: Any, laravel: GiftLaravel, workers: Workers, redis: Redis) -> None:
    room = f"ge-{next(_rooms)}"
    senders = await clients(2, room=room)
    laravel.delay_seconds = 2.0  # Laravel works on the batch while the worker dies
    await asyncio.gather(*(send_gifts(s, room, [1] * 25) for s in senders))
    await laravel.wait_for_batches(1)
    in_flight = laravel.sent_ids()
    assert in_flight
    workers.kill_and_replace()  # SIGKILL while Laravel works on the batch
    laravel.delay_seconds = 0.0
    await laravel.wait_until(lambda: len(laravel.accepted) == 50, within=30)
    await asyncio.sleep(2.5)  # the killed batch's late answer reached nobody
    assert set(laravel.accepted.values()) == {1}
    sent = laravel.sent_ids()
    assert len(set(sent)) == 50
    assert set(in_flight) <= set(sent[len(in_flight):])  # the batch in flight was sent again, same ids
    assert await redis.llen(PENDING_KEY) == 0
    assert await redis.smembers(PROCESSING_INDEX_KEY) == set()
    for sender in senders:
        assert sender.received("gift:error") == []


async def test_the_rooms_session_history_row(clients: Any, laravel: GiftLaravel, worker: CeleryProcess,
                                             database: Path) -> None:
    room = f"ge-{next(_rooms)}"
    first, second, third = await clients(3, room=room)
    await first.sio.emit("chat:message", {"roomId": room, "content": "hi"})
    await second.sio.emit("chat:message", {"roomId": room, "content": "hello"})
    await send_gifts(third, room, [1, 2, 3])
    await first.wait_for("gift:received", 3)
    await third.wait_for("chat:message", 2)
    opened = rows(database, f"SELECT opened_at, closed_at FROM rooms_roomsession WHERE room_id = '{room}'")
    assert len(opened) == 1
    assert opened[0][0] is not None
    assert opened[0][1] is None
    for client in (first, second, third):
        await client.close()
    deadline = time.monotonic() + 20
    while True:
        closed = rows(database, "SELECT close_reason, peak_participants, gift_count, chat_count, closed_at "
                                f"FROM rooms_roomsession WHERE room_id = '{room}'")
        if closed and closed[0][4] is not None:
            break
        assert time.monotonic() < deadline, closed
        await asyncio.sleep(0.2)
    assert closed[0][:4] == ("inactivity", 3, 3, 2)


async def test_the_workers_flush_figures_reach_the_web_processes_metrics(
        clients: Any, laravel: GiftLaravel, worker: CeleryProcess, live: LiveServer) -> None:
    """The flush runs in a Celery worker; the web process's /metrics/prometheus shows what it did."""
    def success(text: str) -> float:
        return metric_value(text, "flylive_gifts_processed_total", {"status": "success"})

    before = await scrape(live)
    room = f"gm-{next(_rooms)}"
    sender, _viewer = await clients(2, room=room)
    for gift_id in (3, 4):
        await sender.sio.emit("gift:send", {"roomId": room, "giftId": gift_id, "recipientId": 9})
    await laravel.wait_until(lambda: len(laravel.accepted) >= 2)
    deadline = time.monotonic() + 10
    while True:
        after = await scrape(live)
        if success(after) >= success(before) + 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert success(after) >= success(before) + 2
    for sample, added in (("flylive_gift_batch_size_count", 1), ("flylive_gift_batch_size_sum", 2)):
        assert metric_value(after, sample) >= metric_value(before, sample) + added, sample

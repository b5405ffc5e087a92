"""The gift buffer's flush against real Redis and Laravel as a real HTTP server: accepted,
rejected, timed out, erroring, down; bounded batches, the lock, crash recovery, metrics, and the
dead-letter table with its replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from django.core.management import call_command
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from apps.gifts import keys
from apps.gifts.buffer import DEAD_LETTER_REASON, GiftBuffer, make_transaction
from apps.gifts.dead_letters import DeadLetter, replay_dead_letters, store_dead_letters
from apps.gifts.stats import GIFT_STATS
from apps.gifts.tests.gift_laravel import BATCH_PATH, GiftLaravel
from apps.integrations.laravel_client import LaravelClient
from apps.realtime.emit import Socket, Target
from apps.rooms.repository import RoomRepository
from apps.rooms.schemas import participant_entry
from apps.rooms.session_history import RoomSessionHistory, session_key
from flylive.metrics import GIFT_BUFFER_SIZE, REGISTRY
from tests.support.processes import RedisServer

DB = 0
INTERNAL_KEY = "gift-test-internal-key-0123456789abcdef"



@pytest.fixture
async def redis(own_redis: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(own_redis.url(DB), decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def laravel() -> AsyncIterator[GiftLaravel]:
    async with GiftLaravel() as server:
        yield server


class Emits:
    def __init__(self) -> None:
        self.sent: list[tuple[Target, str, Any]] = []

    async def __call__(self, target: Target, event: str, payload: Any) -> None:
        self.sent.append((target, event, payload))

    def gift_errors(self) -> dict[str, tuple[str, Any]]:
        """transaction id -> (socket id, payload)."""
        out = {}
        for target, event, payload in self.sent:
            assert event == "gift:error"
            assert isinstance(target, Socket)
            out[payload["transactionId"]] = (target.sid, payload)
        return out


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[dict[str, Any], int, str]] = {}
        self.fail = False

    async def __call__(self, letters: Sequence[DeadLetter], error: str) -> None:
        if self.fail:
            raise RuntimeError("database down")
        for letter in letters:
            self.rows[letter.transaction["transaction_id"]] = (letter.transaction, letter.attempts, error)


@pytest.fixture
async def http(laravel: GiftLaravel) -> AsyncIterator[LaravelClient]:
    client = LaravelClient(laravel.url, INTERNAL_KEY, timeout_ms=500)
    yield client
    await client.aclose()


@pytest.fixture
def emits() -> Emits:
    return Emits()


@pytest.fixture
def dead() -> MemoryDeadLetters:
    return MemoryDeadLetters()


@pytest.fixture
def buffer(redis: Redis, http: LaravelClient, emits: Emits, dead: MemoryDeadLetters) -> GiftBuffer:
    return GiftBuffer(redis, laravel=http, emit=emits, batch_size=3, max_retries=3, lock_ttl_ms=1000,
                      store=dead, history=RoomSessionHistory(redis))


def gift(n: int, *, quantity: int = 1, room: str = "g1") -> Any:
    return make_transaction(room_id=room, sender_id=float(n), recipient_id=2, gift_id=5, quantity=quantity,
                            sender_socket_id=f"sid-{n}")


async def queue(buffer: GiftBuffer, count: int, **kwargs: Any) -> list[str]:
    ids = []
    for n in range(count):
        tx = gift(n, **kwargs)
        await buffer.enqueue(tx)
        ids.append(tx["transaction_id"])
    return ids


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


async def test_queued_transactions_are_sent_in_bounded_batches_without_the_socket_id(
        buffer: GiftBuffer, laravel: GiftLaravel, redis: Redis) -> None:
    ids = await queue(buffer, 7)
    raw = json.loads((await redis.lrange(keys.PENDING_KEY, 0, 0))[0])
    assert raw["transaction_id"].startswith("g_")
    assert len(raw["transaction_id"]) == 38
    assert raw["sender_id"] == 0
    assert isinstance(raw["sender_id"], int)
    assert raw["sender_socket_id"] == "sid-0"
    report = await buffer.flush()
    assert (report.batches, report.sent, report.accepted) == (3, 7, 7)
    assert [len(batch) for batch in laravel.batches] == [3, 3, 1]
    assert laravel.sent_ids() == ids  # oldest first
    first = laravel.batches[0][0]
    assert set(first) == {"transaction_id", "room_id", "sender_id", "recipient_id", "gift_id", "quantity",
                          "timestamp"}
    assert laravel.headers[0]["X-Internal-Key"] == INTERNAL_KEY
    assert laravel.headers[0]["Content-Type"] == "application/json"
    assert await redis.llen(keys.PENDING_KEY) == 0
    assert await redis.smembers(keys.PROCESSING_INDEX_KEY) == set()
    assert [k async for k in redis.scan_iter(match=f"{keys.PROCESSING_PREFIX}*")] == []
    assert GIFT_BUFFER_SIZE._value.get() == 0


async def test_an_empty_buffer_sends_nothing(buffer: GiftBuffer, laravel: GiftLaravel) -> None:
    report = await buffer.flush()
    assert report.ran
    assert report.batches == 0
    assert report.pending_after == 0
    assert laravel.batches == []


async def test_rejected_transactions_tell_their_sender_and_are_not_retried(
        buffer: GiftBuffer, laravel: GiftLaravel, emits: Emits, redis: Redis) -> None:
    laravel.reject = lambda tx: (4001, "Insufficient balance") if tx["quantity"] == 7 else None
    await queue(buffer, 2)
    poor = gift(9, quantity=7)
    await buffer.enqueue(poor)
    await GIFT_STATS.refresh(redis)
    success_before = sample("flylive_gifts_processed_total", status="success")
    failed_before = sample("flylive_gifts_processed_total", status="failed")
    report = await buffer.flush()
    await GIFT_STATS.refresh(redis)  # what every web process's /metrics reads at a scrape
    assert (report.accepted, report.rejected) == (2, 1)
    assert emits.gift_errors() == {poor["transaction_id"]: ("sid-9", {
        "transactionId": poor["transaction_id"], "code": 4001, "reason": "Insufficient balance"})}
    assert sample("flylive_gifts_processed_total", status="success") == success_before + 2
    assert sample("flylive_gifts_processed_total", status="failed") == failed_before + 1
    assert await redis.llen(keys.PENDING_KEY) == 0
    await buffer.flush()
    assert len(laravel.batches) == 1


@pytest.mark.parametrize("failure", ["status_503", "timeout", "no_failed_array", "down"])
async def test_a_batch_laravel_did_not_take_is_retried_then_dead_lettered(
        failure: str, buffer: GiftBuffer, laravel: GiftLaravel, emits: Emits, dead: MemoryDeadLetters,
        redis: Redis) -> None:
    if failure == "status_503":
        laravel.status = 503
    elif failure == "timeout":
        laravel.delay_seconds = 0.8  # the client gives up after 500 ms
    elif failure == "no_failed_array":
        laravel.body_without_failed = True
    else:
        await laravel.stop()
    ids = await queue(buffer, 2)
    await GIFT_STATS.refresh(redis)
    dead_before = sample("flylive_gifts_processed_total", status="dead_letter")

    first = await buffer.flush()
    assert (first.retried, first.dead_lettered) == (2, 0)
    pending = [json.loads(item) for item in await redis.lrange(keys.PENDING_KEY, 0, -1)]
    assert [(tx["transaction_id"], tx["retryCount"]) for tx in pending] == [(i, 1) for i in ids]
    second = await buffer.flush()
    assert (second.retried, second.dead_lettered) == (2, 0)
    assert emits.sent == []
    assert dead.rows == {}
    third = await buffer.flush()
    assert (third.retried, third.dead_lettered) == (0, 2)

    assert await redis.llen(keys.PENDING_KEY) == 0
    assert set(dead.rows) == set(ids)
    tx, attempts, error = dead.rows[ids[0]]
    assert attempts == 3
    assert tx["retryCount"] == 2
    assert tx["sender_socket_id"] == "sid-0"
    assert error
    assert emits.gift_errors() == {
        i: (f"sid-{n}", {"transactionId": i, "code": "PROCESSING_FAILED", "reason": DEAD_LETTER_REASON})
        for n, i in enumerate(ids)}
    await GIFT_STATS.refresh(redis)
    assert sample("flylive_gifts_processed_total", status="dead_letter") == dead_before + 2
    if failure != "down":
        sent = [[tx["transaction_id"] for tx in batch] for batch in laravel.batches]
        assert sent == [ids, ids, ids]  # the same ids each attempt: Laravel's idempotency key
        assert [batch[0].get("retryCount") for batch in laravel.batches] == [None, 1, 2]


async def test_when_the_dead_letter_table_fails_the_batch_stays_for_the_next_flush(
        buffer: GiftBuffer, laravel: GiftLaravel, dead: MemoryDeadLetters, emits: Emits,
        redis: Redis) -> None:
    laravel.status = 500
    ids = await queue(buffer, 1)
    await buffer.flush()
    await buffer.flush()
    dead.fail = True
    await buffer.flush()
    assert dead.rows == {}
    assert emits.sent == []
    assert len(await redis.smembers(keys.PROCESSING_INDEX_KEY)) == 1
    dead.fail = False
    report = await buffer.flush()  # recovers the batch: its third attempt again
    assert report.recovered_batches == 1
    assert set(dead.rows) == set(ids)
    assert len(emits.gift_errors()) == 1


async def test_two_flushes_never_run_at_once(buffer: GiftBuffer, laravel: GiftLaravel, redis: Redis,
                                             http: LaravelClient, emits: Emits,
                                             dead: MemoryDeadLetters) -> None:
    other = GiftBuffer(redis, laravel=http, emit=emits, batch_size=3, lock_ttl_ms=1000, store=dead)
    laravel.delay_seconds = 0.3
    ids = await queue(buffer, 4)
    first, second = await asyncio.gather(buffer.flush(), other.flush())
    assert sorted([first.ran, second.ran]) == [False, True]
    assert sorted(laravel.sent_ids()) == sorted(ids)
    assert sum(laravel.accepted.values()) == 4
    assert set(laravel.accepted.values()) == {1}


async def test_a_long_flush_keeps_its_lock(buffer: GiftBuffer, laravel: GiftLaravel, redis: Redis,
                                           http: LaravelClient, emits: Emits,
                                           dead: MemoryDeadLetters) -> None:
    laravel.delay_seconds = 0.45  # under the client's 500 ms, but 3 batches outlast the 1 s TTL
    await queue(buffer, 9)
    running = asyncio.create_task(buffer.flush())
    await asyncio.sleep(1.2)
    other = GiftBuffer(redis, laravel=http, emit=emits, batch_size=3, lock_ttl_ms=1000, store=dead)
    assert not (await other.flush()).ran
    report = await running
    assert report.accepted == 9
    assert len(laravel.batches) == 3


async def test_a_batch_left_by_a_dead_flush_is_sent_again_by_the_next(
        buffer: GiftBuffer, laravel: GiftLaravel, redis: Redis) -> None:
    ids = await queue(buffer, 5)
    laravel.delay_seconds = 2.0
    dying = asyncio.create_task(buffer.flush())
    await laravel.wait_for_batches(1)
    dying.cancel()  # the flush dies while Laravel works on its first batch
    with pytest.raises(asyncio.CancelledError):
        await dying
    assert len(await redis.smembers(keys.PROCESSING_INDEX_KEY)) == 1
    assert await redis.llen(keys.PENDING_KEY) == 2
    laravel.delay_seconds = 0.0
    report = await buffer.flush()
    assert report.recovered_batches == 1
    assert report.accepted == 5
    assert laravel.sent_ids() == ids[:3] + ids[:3] + ids[3:]  # the unknown outcome sent again, same ids
    await laravel.wait_until(lambda: sum(laravel.accepted.values()) == 5)
    assert set(laravel.accepted) == set(ids)
    assert set(laravel.accepted.values()) == {1}
    assert await redis.smembers(keys.PROCESSING_INDEX_KEY) == set()


async def test_metrics_move_once_per_batch(buffer: GiftBuffer, laravel: GiftLaravel,
                                           redis: Redis) -> None:
    await GIFT_STATS.refresh(redis)
    before = sample("flylive_gift_batch_size_count")
    before_sum = sample("flylive_gift_batch_size_sum")
    before_small = sample("flylive_gift_batch_size_bucket", le="5.0")
    await queue(buffer, 4)
    await buffer.flush()
    await GIFT_STATS.refresh(redis)
    assert sample("flylive_gift_batch_size_count") == before + 2
    assert sample("flylive_gift_batch_size_sum") == before_sum + 4
    assert sample("flylive_gift_batch_size_bucket", le="5.0") == before_small + 2


async def test_gifts_count_in_the_rooms_open_session(buffer: GiftBuffer, redis: Redis) -> None:
    history = RoomSessionHistory(redis)
    joined, _ = await RoomRepository(redis).join("g-room", "sid-g", 1, participant_entry({"id": 1}), now_ms=1,
                                                activity_ttl_ms=30000)
    assert joined.session_id is not None  # the join started the room's session
    await queue(buffer, 3, room="g-room")
    await queue(buffer, 2, room="g-no-session")
    assert await redis.hget(session_key("g-room"), "gifts") == "3"
    assert not await redis.exists(session_key("g-no-session"))
    await history.drain()


@pytest.mark.django_db(transaction=True)
async def test_dead_letters_are_stored_in_the_database_and_replayed(
        own_redis: RedisServer, redis: Redis, laravel: GiftLaravel, http: LaravelClient, emits: Emits,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.gifts.management.commands import replay_gifts
    from apps.gifts.models import GiftDeadLetter
    from flylive.config import get_config

    config = get_config().model_copy(update={"REDIS_HOST": own_redis.host, "REDIS_PORT": own_redis.port,
                                             "REDIS_DB": DB})
    monkeypatch.setattr(replay_gifts, "get_config", lambda: config)

    buffer = GiftBuffer(redis, laravel=http, emit=emits, batch_size=10, max_retries=1, lock_ttl_ms=1000,
                        store=store_dead_letters)
    laravel.status = 503
    ids = await queue(buffer, 3)
    report = await buffer.flush()
    assert report.dead_lettered == 3
    rows = [row async for row in GiftDeadLetter.objects.order_by("pk")]
    assert [row.transaction_id for row in rows] == ids
    assert rows[0].attempts == 1
    assert rows[0].last_error == "POST /gifts/batch: HTTP 503"
    assert rows[0].transaction["sender_socket_id"] == "sid-0"
    # Stored again (a flush that died after storing): the same row.
    await store_dead_letters([DeadLetter(rows[0].transaction, 2)], "again")
    assert await GiftDeadLetter.objects.acount() == 3

    sync_redis = SyncRedis.from_url(own_redis.url(DB))
    try:
        from asgiref.sync import sync_to_async

        assert await sync_to_async(replay_dead_letters)(sync_redis, ids=[rows[0].pk]) == 1
        await sync_to_async(call_command)("replay_gifts")
    finally:
        sync_redis.close()
    assert await GiftDeadLetter.objects.acount() == 0
    pending = [json.loads(item) for item in await redis.lrange(keys.PENDING_KEY, 0, -1)]
    assert [tx["transaction_id"] for tx in pending] == ids
    assert all("retryCount" not in tx for tx in pending)

    laravel.status = 200
    assert (await buffer.flush()).accepted == 3
    assert laravel.sent_ids()[-3:] == ids
    assert BATCH_PATH

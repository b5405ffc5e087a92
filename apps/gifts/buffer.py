"""The gift buffer (contract 7.3): `gift:send` queues transactions in Redis, a Celery beat task
flushes them to Laravel in batches (`POST /gifts/batch`).

    await gift_buffer().enqueue(make_transaction(...))     # web process, gift:send
    report = await gift_buffer().flush()                   # Celery, every GIFT_BUFFER_FLUSH_INTERVAL_MS

A flush, under the flush lock (a TTL that the live flush keeps extending, so two flushes never
run at once and one that dies frees it within GIFT_FLUSH_LOCK_TTL_MS):
1. Recovery: processing lists left by a flush that died (listed in `gifts:processing`; none can
   belong to a live flush, since this one holds the lock) are sent again, as they are.
2. Batches of at most GIFT_BATCH_SIZE: one script moves them from `gifts:pending` into a new
   processing list (atomic, so a crash anywhere leaves each transaction in exactly one list).
   A run sends at most what was pending when it began and stops at the first batch Laravel
   did not take, so retries are a flush interval apart (3 attempts span about 1 s by default).
3. Each batch is POSTed. An answer (2xx with a `failed` array): `gift:error` to the sender's
   socket for each failed item, then the processing list is deleted. No answer (timeout,
   network error, non-2xx, bad body): each transaction's `retryCount` goes up; those at
   GIFT_MAX_RETRIES are written to the dead-letter table and their senders get
   `gift:error {code: "PROCESSING_FAILED"}`; the others go back to `gifts:pending`; then the
   processing list is deleted (queue and delete in one script).
A batch is deleted only after its answer is handled, so nothing is lost; a batch Laravel
answered is never sent again. A batch whose outcome is unknown (timeout, or the flush died
while waiting) is sent again with the same transaction ids: Laravel must treat a transaction id
it has already processed as done (its gifts/batch endpoint is idempotent by transaction_id).
Metrics: `flylive_gifts_processed_total{status}` and `flylive_gift_batch_size` (kept in Redis,
apps/gifts/stats.py: the flush runs in Celery workers) and `flylive_gift_buffer_size`, one update
each per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.gifts import keys, stats
from apps.gifts.dead_letters import DeadLetter, store_dead_letters
from apps.gifts.schemas import GiftError, GiftTransaction
from apps.integrations.laravel_client import LaravelClient, LaravelError
from apps.realtime.emit import Socket, Target
from apps.rooms.session_history import RoomSessionHistory
from flylive.config import AppConfig
from flylive.lua_scripts import lua_text
from flylive.metrics import GIFT_BUFFER_SIZE
from flylive.redis_lock import RedisLock
from flylive.redis_types import AsyncRedis
from flylive.redis_values import as_text

logger = logging.getLogger(__name__)

LUA_DIR = Path(__file__).resolve().parent / "lua"
PROCESSING_FAILED = "PROCESSING_FAILED"
DEAD_LETTER_REASON = "Gift processing failed after multiple attempts"
# One flush run stops taking new batches after this long (the next run goes on).
MAX_RUN_SECONDS = 20.0

Emit = Callable[[Target, str, Any], Awaitable[None]]
StoreDeadLetters = Callable[[Sequence[DeadLetter], str], Awaitable[None]]


def _js_id(value: int | float) -> int | float:
    """A user id as JSON would carry it from JavaScript (42.0 is 42)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def make_transaction(*, room_id: str, sender_id: int | float, recipient_id: int, gift_id: int,
                     quantity: int, sender_socket_id: str) -> GiftTransaction:
    return {
        "transaction_id": f"g_{uuid.uuid4()}",
        "room_id": room_id,
        "sender_id": _js_id(sender_id),
        "recipient_id": recipient_id,
        "gift_id": gift_id,
        "quantity": quantity,
        "timestamp": int(time.time() * 1000),
        "sender_socket_id": sender_socket_id,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _for_laravel(tx: dict[str, Any]) -> dict[str, Any]:
    """The transaction as Laravel gets it: everything but the sender's socket id (7.3 step 3)."""
    return {k: v for k, v in tx.items() if k != "sender_socket_id"}


def _parse(item: str) -> dict[str, Any]:
    try:
        tx = json.loads(item)
    except ValueError:
        tx = None
    if isinstance(tx, dict) and isinstance(tx.get("transaction_id"), str):
        return tx
    # Not ours (someone else pushed it): kept as a dead letter for staff, never sent.
    digest = hashlib.sha1(item.encode("utf-8", "surrogatepass")).hexdigest()
    return {"transaction_id": f"unparsable:{digest}", "unparsable": item}


@dataclass
class FlushReport:
    ran: bool = True  # False: another flush held the lock
    batches: int = 0
    recovered_batches: int = 0  # of `batches`: left by a flush that died
    sent: int = 0  # transactions POSTed
    accepted: int = 0
    rejected: int = 0  # Laravel's `failed` items
    retried: int = 0  # queued again after a failed attempt
    dead_lettered: int = 0
    pending_after: int | None = None
    errors: list[str] = field(default_factory=list)


class GiftBuffer:
    def __init__(self, redis: AsyncRedis, *, laravel: LaravelClient, emit: Emit, batch_size: int = 100,
                 max_retries: int = 3, lock_ttl_ms: int = 5000,
                 store: StoreDeadLetters = store_dead_letters,
                 history: RoomSessionHistory | None = None,
                 max_run_seconds: float = MAX_RUN_SECONDS) -> None:
        self.redis = redis
        self.laravel = laravel
        self._emit = emit
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.lock_ttl_ms = lock_ttl_ms
        self._store = store
        self.history = history
        self.max_run_seconds = max_run_seconds
        self._take = redis.register_script(lua_text(LUA_DIR, "gift_take_batch.lua"))
        self._finish = redis.register_script(lua_text(LUA_DIR, "gift_finish_batch.lua"))
        self._token = secrets.token_hex(4)
        self._batch_seq = 0

    @classmethod
    def from_config(cls, config: AppConfig, redis: AsyncRedis, *, laravel: LaravelClient, emit: Emit,
                    history: RoomSessionHistory | None = None) -> GiftBuffer:
        return cls(redis, laravel=laravel, emit=emit, batch_size=config.GIFT_BATCH_SIZE,
                   max_retries=config.GIFT_MAX_RETRIES, lock_ttl_ms=config.GIFT_FLUSH_LOCK_TTL_MS,
                   history=history)

    # -- gift:send -------------------------------------------------------------------------

    async def enqueue(self, tx: GiftTransaction) -> None:
        """Queue one transaction (and count it in its room's session) in one round trip."""
        # Not a transaction: the buffer and the room's session are two slots on a Cluster.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(keys.PENDING_KEY, _dumps(tx))
            if self.history is not None:
                self.history.count_in(pipe, tx["room_id"], "gifts")
            await pipe.execute()

    async def pending(self) -> int:
        return int(await self.redis.llen(keys.PENDING_KEY))

    # -- the flush -------------------------------------------------------------------------

    async def flush(self) -> FlushReport:
        """One flush run (see the module's docstring); `ran` is False when another one runs."""
        lock = RedisLock(self.redis, keys.FLUSH_LOCK_KEY, ttl_ms=self.lock_ttl_ms)
        if not await lock.acquire():
            return FlushReport(ran=False)
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep_lock(lock, lost), name="gift flush lock keeper")
        report = FlushReport()
        try:
            for key in sorted(as_text(k) for k in await self.redis.smembers(keys.PROCESSING_INDEX_KEY)):
                if lost.is_set():
                    break
                items = [as_text(i) for i in await self.redis.lrange(key, 0, -1)]
                if not items:  # finished, but the index entry stayed: nothing to send
                    await self._finish_batch(key, [])
                    continue
                logger.warning("gift flush: recovering %d transactions of %s (its flush died)",
                               len(items), key)
                report.recovered_batches += 1
                await self._send_batch(key, items, report)
            # Only what was pending when the run began: retries queued by this run wait for the
            # next one (an interval apart), and a run ends at the first batch Laravel did not take.
            budget = await self.pending()
            deadline = time.monotonic() + self.max_run_seconds
            while budget > 0 and not report.errors and not lost.is_set() and time.monotonic() < deadline:
                key = self._new_processing_key()
                size = min(self.batch_size, budget)
                items = [as_text(i) for i in await self._take(
                    keys=[keys.PENDING_KEY, keys.PROCESSING_INDEX_KEY, key], args=[size])]
                if not items:
                    break
                budget -= len(items)
                await self._send_batch(key, items, report)
            if lost.is_set():
                logger.error("gift flush lost its lock (stalled past %d ms); stopping", self.lock_ttl_ms)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(Exception):
                await lock.release()
        if report.batches == 0:
            with contextlib.suppress(Exception):
                report.pending_after = await self.pending()
                GIFT_BUFFER_SIZE.set(report.pending_after)
        return report

    def _new_processing_key(self) -> str:
        self._batch_seq += 1
        return f"{keys.PROCESSING_PREFIX}{int(time.time() * 1000)}-{self._token}-{self._batch_seq}"

    async def _keep_lock(self, lock: RedisLock, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(lock.ttl_ms / 3000)
            try:
                if not await lock.extend():
                    lost.set()
                    return
            except Exception as exc:  # Redis hiccup: try again; the TTL spans three attempts
                logger.warning("gift flush: could not extend its lock: %r", exc)

    async def _send_batch(self, key: str, items: list[str], report: FlushReport) -> None:
        """POST one batch and handle the outcome; the processing list `key` goes only after."""
        report.batches += 1
        txs = [_parse(item) for item in items]
        sendable = [tx for tx in txs if "unparsable" not in tx]
        unparsable = [tx for tx in txs if "unparsable" in tx]
        await stats.record(self.redis, batch_size=len(txs))
        failed: list[Any] | None = None
        error = ""
        if sendable:
            report.sent += len(sendable)
            try:
                answer = await self.laravel.post_gift_batch([_for_laravel(tx) for tx in sendable])
                failed = answer.get("failed")
                if not isinstance(failed, list):
                    raise LaravelError("POST /gifts/batch: the answer has no `failed` array")
            except Exception as exc:
                failed = None
                error = str(exc) or exc.__class__.__name__
        else:
            failed = []
        if failed is not None:
            await self._accepted(key, sendable, unparsable, failed, report)
        else:
            await self._not_taken(key, sendable, unparsable, error, report)

    async def _accepted(self, key: str, txs: list[dict[str, Any]], unparsable: list[dict[str, Any]],
                        failed: list[Any], report: FlushReport) -> None:
        by_id = {tx["transaction_id"]: tx for tx in txs}
        rejected = 0
        for item in failed:
            tx_id = item.get("transaction_id") if isinstance(item, dict) else None
            tx = by_id.pop(tx_id, None) if isinstance(tx_id, str) else None
            if tx is None:
                logger.warning("gift flush: Laravel failed a transaction not in the batch: %.200r", item)
                continue
            assert isinstance(item, dict)
            rejected += 1
            await self._tell_sender(tx, {"transactionId": tx["transaction_id"], "code": item.get("code"),
                                         "reason": item.get("reason")})
        if unparsable and not await self._dead_letter(unparsable, "unparsable transaction", report):
            return
        finished = await self._finish_batch(key, [])
        accepted = len(txs) - rejected
        report.accepted += accepted
        report.rejected += rejected
        if finished:
            await stats.record(self.redis, success=accepted, failed=rejected)

    async def _not_taken(self, key: str, txs: list[dict[str, Any]], unparsable: list[dict[str, Any]],
                         error: str, report: FlushReport) -> None:
        logger.warning("gift flush: batch of %d not taken by Laravel: %s", len(txs), error)
        report.errors.append(error)
        retry: list[str] = []
        dead: list[dict[str, Any]] = list(unparsable)
        dead_attempts: dict[str, int] = {}
        for tx in txs:
            attempts = int(tx.get("retryCount") or 0) + 1
            if attempts >= self.max_retries:
                dead.append(tx)
                dead_attempts[tx["transaction_id"]] = attempts
            else:
                retry.append(_dumps({**tx, "retryCount": attempts}))
        if dead and not await self._dead_letter(dead, error, report, dead_attempts):
            return
        for tx in dead:
            if "unparsable" not in tx:
                await self._tell_sender(tx, {"transactionId": tx["transaction_id"], "code": PROCESSING_FAILED,
                                             "reason": DEAD_LETTER_REASON})
        await self._finish_batch(key, retry)
        report.retried += len(retry)

    async def _dead_letter(self, txs: list[dict[str, Any]], error: str, report: FlushReport,
                           attempts: dict[str, int] | None = None) -> bool:
        """Store the rows; False (the batch stays for the next flush) if the database failed."""
        letters = [DeadLetter(tx, (attempts or {}).get(tx["transaction_id"], 0)) for tx in txs]
        try:
            await self._store(letters, error)
        except Exception:
            logger.exception("gift flush: dead letters not stored; their batch stays for the next flush")
            report.errors.append("dead-letter store failed")
            return False
        report.dead_lettered += len(letters)
        await stats.record(self.redis, dead_letter=len(letters))
        return True

    async def _finish_batch(self, key: str, retry: list[str]) -> bool:
        finished, pending = await self._finish(keys=[keys.PENDING_KEY, keys.PROCESSING_INDEX_KEY, key],
                                               args=retry)
        GIFT_BUFFER_SIZE.set(int(pending))
        return bool(int(finished))

    async def _tell_sender(self, tx: dict[str, Any], error: GiftError) -> None:
        sid = tx.get("sender_socket_id")
        if not isinstance(sid, str) or not sid:
            return
        try:
            await self._emit(Socket(sid), "gift:error", error)
        except Exception as exc:  # the outcome stands; only the notice is lost
            logger.warning("gift flush: gift:error to %s failed: %r", sid, exc)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GiftBuffer] = weakref.WeakKeyDictionary()


def gift_buffer() -> GiftBuffer:
    """The running loop's buffer (the loop's Redis, Laravel client and emit)."""
    loop = asyncio.get_running_loop()
    buffer = _by_loop.get(loop)
    if buffer is None:
        from apps.integrations.laravel_client import laravel_client
        from apps.realtime.emit import emit
        from apps.realtime.loop_services import get_services
        from apps.rooms.session_history import session_history

        services = get_services()
        buffer = _by_loop[loop] = GiftBuffer.from_config(
            services.config, services.redis, laravel=laravel_client(), emit=emit,
            history=session_history(services.redis))
    return buffer


def use_gift_buffer(buffer: GiftBuffer) -> None:
    """Make `buffer` the running loop's (tests)."""
    _by_loop[asyncio.get_running_loop()] = buffer

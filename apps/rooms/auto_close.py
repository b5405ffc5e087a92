"""The auto-close pass (contract 6.6, run by Celery beat every ROOM_AUTO_CLOSE_POLL_INTERVAL_MS).

One pass: take the pass lock (runs never overlap, across every Celery worker), list the
rooms from the `rooms:active` index, read every room's activity mark and member count in
one pipelined round trip per batch, close the idle ones (no activity mark, no members;
re-checked atomically by the close itself, so a join that lands meanwhile wins) and keep
the live ones' records past their 24 h TTLs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apps.rooms import keys
from apps.rooms.service import RoomService
from flylive.redis_lock import RedisLock

logger = logging.getLogger(__name__)

# Rooms read per pipelined round trip; the lock is extended between batches.
BATCH_SIZE = 500
# Closes in flight at once (each emits, tells media and awaits Laravel).
CLOSE_CONCURRENCY = 16
# The pass lock's TTL: a worker that dies mid-pass frees it after this long.
LOCK_TTL_MS = 60_000

RefreshMedia = Callable[[list[str]], Awaitable[None]]


@dataclass(frozen=True)
class AutoCloseReport:
    ran: bool  # False: another pass held the lock
    rooms_seen: int = 0
    closed: tuple[str, ...] = ()
    kept_alive: int = 0  # live rooms whose records' TTLs were reset


async def auto_close_pass(service: RoomService, *, refresh_media: RefreshMedia | None = None,
                          lock_ttl_ms: int = LOCK_TTL_MS, batch_size: int = BATCH_SIZE) -> AutoCloseReport:
    """One auto-close pass, unless another one is running (then `ran` is False)."""
    repo = service.repo
    lock = RedisLock(repo.redis, keys.AUTO_CLOSE_LOCK_KEY, ttl_ms=lock_ttl_ms)
    if not await lock.acquire():
        return AutoCloseReport(ran=False)
    try:
        entries = await repo.active_rooms()
        room_ids = [room_id for room_id, _ in entries]
        scores = dict(entries)
        closed: list[str] = []
        kept_alive = 0
        limit = asyncio.Semaphore(CLOSE_CONCURRENCY)

        async def close_if_idle(room_id: str) -> None:
            async with limit:
                try:
                    if await service.close_idle_room(room_id, index_score=scores[room_id]):
                        closed.append(room_id)
                except Exception:
                    logger.exception("auto-close of room %s failed; retried next pass", room_id)

        for start in range(0, len(room_ids), batch_size):
            if start and not await lock.extend():
                logger.warning("auto-close pass lost its lock; stopping (another pass runs)")
                break
            activity = await repo.read_activity(room_ids[start:start + batch_size])
            alive = [room.room_id for room in activity if not room.idle]
            await asyncio.gather(*(close_if_idle(room.room_id) for room in activity if room.idle))
            kept_alive += await repo.keep_alive(alive)
            if refresh_media is not None and alive:
                await refresh_media(alive)
        if closed:
            logger.info("auto-close: %d of %d rooms closed for inactivity", len(closed), len(room_ids))
        return AutoCloseReport(True, len(room_ids), tuple(closed), kept_alive)
    finally:
        await lock.release()

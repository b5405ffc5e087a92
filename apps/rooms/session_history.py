"""Room session history: one database row (models.RoomSession) per room opened and closed.

During a room's life its figures live in Redis, hash `room:{id}:session`
(`session_id`, `opened_at` ms, `peak` participants, `chats`, `gifts`; 24 h TTL, refreshed):
- the join that creates the room starts it (in room_join.lua, then `started` writes the row),
  and every join raises `peak`;
- each chat message and gift counts itself in it (`count` / `count_in`), only while it exists;
- the close takes and deletes it in one script (`room_closed`) and completes the row.

Rows are written off the event loop (Django's ORM in a thread, `sync_to_async`). The open
row is written in the background (a join does not wait for the database); the close row is
awaited by the close. Both are idempotent by `session_id` (get_or_create / update_or_create),
so an open row written after its close changes nothing. A database failure is logged and
costs only history, never a join or a close.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from asgiref.sync import sync_to_async

from apps.rooms.keys import ROOM_STATE_TTL_SECONDS
from flylive.lua_scripts import lua_text, queue_script
from flylive.redis_types import AsyncPipeline, AsyncRedis
from flylive.redis_values import as_text

logger = logging.getLogger(__name__)

LUA_DIR = Path(__file__).resolve().parent / "lua"
Counted = Literal["chats", "gifts"]


def session_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:session"


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _from_ms(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None
    except (TypeError, ValueError):
        return None


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@dataclass(frozen=True)
class ClosedSession:
    """What a close writes: the room's figures from Redis plus how it ended."""

    room_id: str
    session_id: str
    opened_at: datetime | None
    closed_at: datetime
    close_reason: str
    peak_participants: int
    gift_count: int
    chat_count: int


def _write_opened(room_id: str, session_id: str, opened_at: datetime) -> None:
    from django.db import close_old_connections

    from apps.rooms.models import RoomSession

    close_old_connections()
    RoomSession.objects.get_or_create(session_id=session_id,
                                      defaults={"room_id": room_id, "opened_at": opened_at})


def _write_closed(closed: ClosedSession) -> None:
    from django.db import close_old_connections

    from apps.rooms.models import RoomSession

    close_old_connections()
    RoomSession.objects.update_or_create(session_id=closed.session_id, defaults={
        "room_id": closed.room_id, "opened_at": closed.opened_at, "closed_at": closed.closed_at,
        "close_reason": closed.close_reason[:64], "peak_participants": closed.peak_participants,
        "gift_count": closed.gift_count, "chat_count": closed.chat_count,
    })


class RoomSessionHistory:
    def __init__(self, redis: AsyncRedis, *, ttl_seconds: int = ROOM_STATE_TTL_SECONDS) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self._count = redis.register_script(lua_text(LUA_DIR, "session_count.lua"))
        self._close = redis.register_script(lua_text(LUA_DIR, "session_close.lua"))
        self._writes: set[asyncio.Task[None]] = set()

    def started(self, room_id: str, session_id: str, opened_at_ms: int) -> None:
        """The room join script started a session in Redis: its row is written in the background
        (never awaited by the join)."""
        opened_at = _from_ms(str(opened_at_ms))
        assert opened_at is not None
        self._spawn(self._write(_write_opened, room_id, session_id, opened_at))

    async def count(self, room_id: str, what: Counted) -> None:
        """One chat message or gift in the room's open session. Never raises (logged)."""
        try:
            await self._count(keys=[session_key(room_id)], args=[what, self.ttl_seconds])
        except Exception as exc:
            logger.warning("room session history: %s of room %s not counted: %r", what, room_id, exc)

    def count_in(self, pipe: AsyncPipeline, room_id: str, what: Counted) -> None:
        """`count`, queued on the caller's pipeline (one round trip with its own commands)."""
        queue_script(pipe, self._count, [session_key(room_id)], [what, self.ttl_seconds])

    async def room_closed(self, room_id: str, reason: str) -> ClosedSession | None:
        """The room closed (exactly one caller per close): write its row; the row, or None when
        the room had no session figures (opened before history was kept, or expired). Never
        raises (a failure is logged: history must not cost a close)."""
        try:
            flat = [as_text(v) for v in await self._close(keys=[session_key(room_id)])]
        except Exception as exc:
            logger.warning("room session history: close of room %s not recorded: %r", room_id, exc)
            flat = []
        fields: dict[str, str] = dict(zip(flat[::2], flat[1::2], strict=True))
        closed = ClosedSession(
            room_id=room_id,
            session_id=fields.get("session_id") or str(uuid.uuid4()),
            opened_at=_from_ms(fields.get("opened_at")),
            closed_at=datetime.now(UTC),
            close_reason=reason,
            peak_participants=_int(fields.get("peak")),
            gift_count=_int(fields.get("gifts")),
            chat_count=_int(fields.get("chats")),
        )
        await self._write(_write_closed, closed)
        return closed if fields else None

    async def drain(self) -> None:
        """Wait for the open rows being written (tests, shutdown)."""
        while self._writes:
            await asyncio.wait(set(self._writes))

    async def _write(self, write: Any, *args: Any) -> None:
        try:
            await sync_to_async(write)(*args)
        except Exception as exc:
            room_id = getattr(args[0], "room_id", args[0])
            logger.warning("room session history: %s for room %s failed: %r", write.__name__, room_id, exc)

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)


_by_client: weakref.WeakKeyDictionary[AsyncRedis, RoomSessionHistory] = weakref.WeakKeyDictionary()


def session_history(redis: AsyncRedis | None = None) -> RoomSessionHistory:
    """The history recorder on `redis` (default: the running loop's client); one per client."""
    if redis is None:
        from apps.realtime.loop_services import get_redis

        redis = get_redis()
    history = _by_client.get(redis)
    if history is None:
        history = _by_client[redis] = RoomSessionHistory(redis)
    return history

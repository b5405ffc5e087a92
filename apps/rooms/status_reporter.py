"""Room status reports to Laravel (contract 8.2), coalesced per room.

The baseline posts `{is_live, participant_count}` on every join and leave; a burst
of a thousand listeners joining one room would be a thousand HTTP calls, and
concurrent calls for one room can land out of order. Here each room has at most
one call in flight; reports made meanwhile replace each other, and the latest is
sent when the call returns. Laravel ends up with the same final state, sooner
and in order (per process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoomStatus:
    is_live: bool
    participant_count: int
    ended_at: str | None = None


PostStatus = Callable[[str, RoomStatus], Awaitable[None]]


class RoomStatusReporter:
    def __init__(self, post: PostStatus) -> None:
        self._post = post
        self._pending: dict[str, RoomStatus] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}

    def report(self, room_id: str, status: RoomStatus) -> None:
        """Fire and forget: `status` replaces any report of this room not sent yet."""
        self._pending[room_id] = status
        if room_id not in self._senders:
            self._senders[room_id] = asyncio.create_task(self._send_latest(room_id))

    async def _send_latest(self, room_id: str) -> None:
        try:
            while (status := self._pending.pop(room_id, None)) is not None:
                try:
                    await self._post(room_id, status)
                except Exception:  # `post` logs its own failures; this keeps the room's sender alive
                    logger.exception("room status sender for %s failed", room_id)
        finally:
            del self._senders[room_id]

    @property
    def pending(self) -> bool:
        return bool(self._senders)

    async def flush(self, room_id: str) -> None:
        """Wait until every report of this room made so far has been sent."""
        while (sender := self._senders.get(room_id)) is not None:
            await asyncio.gather(sender, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every report made so far has been sent (tests, shutdown)."""
        while self._senders:
            await asyncio.gather(*list(self._senders.values()), return_exceptions=True)

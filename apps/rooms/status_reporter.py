"""Room status reports to Laravel (contract 8.2), coalesced per room.

The baseline posts `{is_live, participant_count}` on every join and leave; a burst
of a thousand listeners joining one room would be a thousand HTTP calls, and
concurrent calls for one room can land out of order. Here each room has at most
one call in flight; reports made meanwhile replace each other, and the latest is
sent when the call returns. A room makes at most `max_calls` calls per `per_seconds`
(a flush or drain sends at once): a room that fills up at a hundred joins a second
costs two calls a second, not a hundred, while a join or leave now and then is each
sent as before. Laravel ends up with the same final state, sooner and in order (per process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoomStatus:
    is_live: bool
    participant_count: int
    ended_at: str | None = None


PostStatus = Callable[[str, RoomStatus], Awaitable[None]]

# Per room and process: at most this many status calls in any such window.
MAX_CALLS = 2
PER_SECONDS = 1.0
_RECENT_PRUNE_AT = 4096


class RoomStatusReporter:
    def __init__(self, post: PostStatus, *, max_calls: int = MAX_CALLS,
                 per_seconds: float = PER_SECONDS) -> None:
        self._post = post
        self.max_calls = max_calls
        self.per_seconds = per_seconds
        self._recent: dict[str, deque[float]] = {}  # room -> loop times of its last calls
        self._pending: dict[str, RoomStatus] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._hurry: dict[str, asyncio.Event] = {}  # set: skip the interval (flush, drain)

    def report(self, room_id: str, status: RoomStatus) -> None:
        """Fire and forget: `status` replaces any report of this room not sent yet."""
        self._pending[room_id] = status
        if room_id not in self._senders:
            self._hurry[room_id] = asyncio.Event()
            self._senders[room_id] = asyncio.create_task(self._send_latest(room_id))

    async def _send_latest(self, room_id: str) -> None:
        hurry = self._hurry[room_id]
        loop = asyncio.get_running_loop()
        recent = self._recent_calls(room_id, loop.time())
        try:
            while room_id in self._pending:
                if len(recent) == self.max_calls and not hurry.is_set():
                    # Over the rate: wait, while later reports replace this one.
                    delay = recent[0] + self.per_seconds - loop.time()
                    if delay > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(hurry.wait(), delay)
                status = self._pending.pop(room_id)
                recent.append(loop.time())
                try:
                    await self._post(room_id, status)
                except Exception:  # `post` logs its own failures; this keeps the room's sender alive
                    logger.exception("room status sender for %s failed", room_id)
        finally:
            del self._senders[room_id]
            del self._hurry[room_id]

    def _recent_calls(self, room_id: str, now: float) -> deque[float]:
        if len(self._recent) >= _RECENT_PRUNE_AT:
            self._recent = {r: times for r, times in self._recent.items()
                            if times and now - times[-1] < self.per_seconds}
        recent = self._recent.get(room_id)
        if recent is None:
            recent = self._recent[room_id] = deque(maxlen=self.max_calls)
        return recent

    @property
    def pending(self) -> bool:
        return bool(self._senders)

    async def flush(self, room_id: str) -> None:
        """Wait until every report of this room made so far has been sent."""
        while (sender := self._senders.get(room_id)) is not None:
            self._hurry[room_id].set()
            await asyncio.gather(sender, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until every report made so far has been sent (tests, shutdown)."""
        while self._senders:
            for hurry in self._hurry.values():
                hurry.set()
            await asyncio.gather(*list(self._senders.values()), return_exceptions=True)

"""The one path by which the server sends events to clients.

Targets (contract section 0): Room (ROOM*, or ROOM- with exclude_sid), Socket
(SELF/SOCKET), User (every socket in `user:{id}:sockets`), Everyone. ROOM+ is
`Room(room, exclude_sid=me)` then `Socket(me)`.

STATUS: interface fixed; `emit()` is implemented by apps/realtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Room:
    room_id: str
    exclude_sid: str | None = None


@dataclass(frozen=True)
class Socket:
    sid: str


@dataclass(frozen=True)
class User:
    user_id: int | float


@dataclass(frozen=True)
class Everyone:
    pass


Target = Room | Socket | User | Everyone


async def emit(target: Target, event: str, payload: Any) -> None:
    """Send `event` with `payload` to `target`, across every web process."""
    raise NotImplementedError

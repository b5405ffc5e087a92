"""Small stand-ins for the realtime layer in service tests: a socket and an emit recorder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.realtime.emit import Room, Target
from apps.realtime.event_registry import SocketSession


def claims(user_id: int | float, name: str | None = None) -> dict[str, Any]:
    """The 16 validated JWT claims of a user (contract 1.4)."""
    return {
        "id": user_id, "name": name or f"user{user_id}", "signature": "sig", "email": f"{user_id}@x.test",
        "avatar": "https://a.test/a.png", "frame": "gold", "gender": "1", "date_of_birth": "2000-01-01",
        "phone": "+1", "country": "US", "coins": "10", "diamonds": "20", "wealth_xp": "30",
        "charm_xp": "40", "is_blocked": False, "isSpeaker": False,
    }


@dataclass
class FakeSocket:
    """What RoomService needs from an EventContext: the session and group membership."""

    session: SocketSession
    groups: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, sid: str, user_id: int | float) -> FakeSocket:
        return cls(SocketSession(sid=sid, user=claims(user_id)))

    async def join_room_group(self, room_id: str) -> None:
        self.groups.add(room_id)

    async def leave_room_group(self, room_id: str) -> None:
        self.groups.discard(room_id)

    def room_joined(self, join_seq: int) -> None:
        self.session.room_join_seq = join_seq


@dataclass
class Emitted:
    target: Target
    event: str
    payload: Any


@dataclass
class EmitRecorder:
    emitted: list[Emitted] = field(default_factory=list)

    async def __call__(self, target: Target, event: str, payload: Any) -> None:
        self.emitted.append(Emitted(target, event, payload))

    def events(self, name: str) -> list[Emitted]:
        return [e for e in self.emitted if e.event == name]

    def to_room(self, room_id: str, name: str) -> list[Emitted]:
        return [e for e in self.events(name) if isinstance(e.target, Room) and e.target.room_id == room_id]

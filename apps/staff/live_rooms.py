"""What staff see of the live rooms: read from Redis through each domain's service (members and
state from the rooms repository, seats from the seat service) and from the media node hosting the
room (`room.stats` through the media gateway). Nothing here writes."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from apps.media import gateway
from apps.rooms.service import room_service
from apps.seats.service import seat_service

logger = logging.getLogger(__name__)

MEDIA_STATS_TIMEOUT_SECONDS = 3.0
LIST_LIMIT = 200  # rooms shown per page (the most recently joined first)


@dataclass(frozen=True)
class RoomSpanView:
    """Another media node serving some of the room's listeners, fed through a pipe transport pair."""
    node_id: str
    listeners: int
    producers: int
    pipe_local: str  # ip:port on the room's node
    pipe_remote: str  # ip:port on the other node


@dataclass(frozen=True)
class RoomMedia:
    node_id: str | None
    source_worker_pid: int | None = None
    worker_pids: list[int] = field(default_factory=list)
    routers: int = 0
    transports: int = 0
    producers: int = 0
    consumers: int = 0
    listeners: int = 0  # listener transports on the room's own node
    spans: list[RoomSpanView] = field(default_factory=list)


@dataclass(frozen=True)
class Participant:
    user_id: int | float
    name: str
    sockets: int


@dataclass(frozen=True)
class LiveRoomView:
    room_id: str
    participants: list[Participant]
    seats: list[dict[str, Any]]  # {"seatIndex", "userId", "isMuted"}, ascending
    locked_seats: list[int]
    producers: list[dict[str, Any]]  # {"producerId", "userId"}
    created_at_ms: int | None
    last_activity_at_ms: int | None
    active_now: bool  # an event of a member within ROOM_INACTIVITY_TIMEOUT_MS
    media: RoomMedia | None

    @property
    def participant_count(self) -> int:
        return sum(p.sockets for p in self.participants)

    @property
    def age_seconds(self) -> float | None:
        return None if self.created_at_ms is None else max(0.0, time.time() - self.created_at_ms / 1000)

    @property
    def idle_seconds(self) -> float | None:
        """Since the room's last join or leave."""
        if self.last_activity_at_ms is None:
            return None
        return max(0.0, time.time() - self.last_activity_at_ms / 1000)

    def as_json(self) -> dict[str, Any]:
        media = self.media
        return {
            "roomId": self.room_id,
            "participantCount": self.participant_count,
            "participants": [{"userId": p.user_id, "name": p.name, "sockets": p.sockets}
                             for p in self.participants],
            "seats": self.seats,
            "lockedSeats": self.locked_seats,
            "producers": self.producers,
            "createdAt": self.created_at_ms,
            "lastActivityAt": self.last_activity_at_ms,
            "ageSeconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "activeNow": self.active_now,
            "media": None if media is None else {
                "nodeId": media.node_id, "sourceWorkerPid": media.source_worker_pid,
                "workerPids": media.worker_pids, "routers": media.routers, "transports": media.transports,
                "producers": media.producers, "consumers": media.consumers, "listeners": media.listeners,
                "spans": [{"nodeId": s.node_id, "listeners": s.listeners, "producers": s.producers,
                           "pipeLocal": s.pipe_local, "pipeRemote": s.pipe_remote} for s in media.spans],
            },
        }


async def _media_of(room_id: str) -> RoomMedia | None:
    try:
        node_id, stats = await asyncio.wait_for(gateway.room_media(room_id), MEDIA_STATS_TIMEOUT_SECONDS)
    except Exception as exc:  # the page still shows what Redis knows
        logger.warning("media figures of room %s unavailable: %r", room_id, exc)
        return None
    if node_id is None and stats is None:
        return None
    if stats is None:
        return RoomMedia(node_id)
    pids = sorted({slot.workerPid for slot in stats.slots})
    spans = [RoomSpanView(s.nodeId, s.listeners, s.producers, s.pipeLocal, s.pipeRemote) for s in stats.spans]
    return RoomMedia(node_id, stats.sourceWorkerPid, pids, len(stats.slots), stats.transports,
                     stats.producers, stats.consumers, sum(slot.listeners for slot in stats.slots), spans)


def _participants(members: dict[str, Any]) -> list[Participant]:
    by_user: dict[Any, Participant] = {}
    for entry in members.values():
        user_id = entry.get("id")
        known = by_user.get(user_id)
        by_user[user_id] = Participant(user_id, str(entry.get("name", "")),
                                       1 if known is None else known.sockets + 1)
    return sorted(by_user.values(), key=lambda p: (str(type(p.user_id)), p.user_id))


async def live_room(room_id: str) -> LiveRoomView | None:
    """The room as it is now; None when it is not open."""
    repo = room_service().repo
    state = await repo.get_state(room_id)
    if state is None:
        return None
    snapshot, seats, activity, media = await asyncio.gather(
        repo.snapshot(room_id), seat_service().room_seats(room_id), repo.read_activity([room_id]),
        _media_of(room_id))
    return LiveRoomView(
        room_id=room_id,
        participants=_participants(dict(snapshot.members)),
        seats=[dict(seat) for seat in seats.seats],
        locked_seats=list(seats.locked),
        producers=[dict(p) for p in snapshot.producers],
        created_at_ms=_int_or_none(state.get("createdAt")),
        last_activity_at_ms=_int_or_none(state.get("lastActivityAt")),
        active_now=activity[0].has_activity,
        media=media,
    )


async def live_rooms(limit: int = LIST_LIMIT) -> tuple[int, list[LiveRoomView]]:
    """How many rooms are open, and the `limit` most recently joined of them."""
    repo = room_service().repo
    total = await repo.active_room_count()
    ids = list(reversed(await repo.active_room_ids(start=-limit, stop=-1))) if limit > 0 else []
    rooms = await asyncio.gather(*(live_room(room_id) for room_id in ids))
    return total, [room for room in rooms if room is not None]


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

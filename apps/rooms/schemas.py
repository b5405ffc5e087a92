"""Payloads of the room events (contract 2.1, 2.2, 2.13) and the shapes they produce.

Like the baseline's zod objects: unknown keys are dropped, wrong types reject the
whole payload, room ids must be JSON strings and user ids JSON numbers. Room ids
follow the one rule of `RoomId` (1-64 of `[A-Za-z0-9_-]`, docs/protocol.md), also in
room:join, where the baseline took any string. The field types are the dispatch
layer's (apps/realtime/schema.py).
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from pydantic import Field

from apps.realtime.codec import RawJson
from apps.realtime.schema import JsInt, JsNumber, Payload, RoomId
from apps.seats.schemas import SeatView

MAX_SEAT_COUNT = 15


class RoomJoin(Payload):
    roomId: RoomId  # the baseline allowed "" here; no room id may be empty now
    # Accepted for wire compatibility but never trusted: the owner comes from Laravel.
    ownerId: JsNumber | None = None
    # Lists only seats below it in this ack (as the baseline); the join that opens the room
    # also makes it the room's seat count (default DEFAULT_SEAT_COUNT), which every seat
    # operation enforces.
    seatCount: Annotated[JsInt, Field(ge=1, le=MAX_SEAT_COUNT)] | None = None


class RoomLeave(Payload):
    roomId: RoomId


class UserGetRoom(Payload):
    userId: JsNumber


class ParticipantEntry(TypedDict):
    """One socket in a room as `room:join` lists it (2.1 step 4); stored in `room:{id}:members`."""

    id: int | float
    name: str
    signature: str
    avatar: str
    frame: str
    gender: str
    country: str
    phone: str
    email: str
    date_of_birth: str
    wealth_xp: str
    charm_xp: str
    isSpeaker: bool


class ProducerView(TypedDict):
    producerId: str
    userId: int | float


class RoomJoinAck(TypedDict):
    """No `success` key: the baseline's join ack is plain."""

    rtpCapabilities: dict[str, Any]
    participants: RawJson  # the members' stored entries, one JSON array embedded as is
    seats: list[SeatView]
    lockedSeats: list[int]
    existingProducers: list[ProducerView]


PARTICIPANT_CLAIMS = (
    "id", "name", "signature", "avatar", "frame", "gender", "country", "phone", "email",
    "date_of_birth", "wealth_xp", "charm_xp",
)


def participant_entry(user: dict[str, Any]) -> ParticipantEntry:
    """The participant entry of a socket, from its validated JWT claims."""
    entry: dict[str, Any] = {name: user.get(name) for name in PARTICIPANT_CLAIMS}
    entry["isSpeaker"] = False
    return entry  # type: ignore[return-value]

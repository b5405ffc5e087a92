"""Payloads of the seat events (contract 2.9) and the events they produce (contract 3)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from pydantic import Field

from apps.realtime.schema import JsInt, Payload, RoomId

MAX_SEATS = 15
SeatIndex = Annotated[JsInt, Field(ge=0, le=MAX_SEATS - 1)]
TargetUserId = Annotated[JsInt, Field(gt=0)]


class SeatTake(Payload):
    roomId: RoomId
    seatIndex: SeatIndex


class SeatLeave(Payload):
    roomId: RoomId


class SeatAssign(Payload):
    roomId: RoomId
    userId: TargetUserId
    seatIndex: SeatIndex


class SeatTarget(Payload):
    """seat:remove, seat:mute, seat:unmute."""

    roomId: RoomId
    userId: TargetUserId


class SeatAt(Payload):
    """seat:lock, seat:unlock."""

    roomId: RoomId
    seatIndex: SeatIndex


class SeatInvite(Payload):
    roomId: RoomId
    userId: TargetUserId
    seatIndex: SeatIndex


class SeatInviteAnswer(Payload):
    """seat:invite:accept, seat:invite:decline: without seatIndex, the caller's first invite."""

    roomId: RoomId
    seatIndex: SeatIndex | None = None


class SeatUpdated(TypedDict):
    seatIndex: int
    userId: int | float
    isMuted: bool


class SeatView(TypedDict):
    """An occupied seat as room:join lists it."""

    seatIndex: int
    userId: int | float
    isMuted: bool

"""Staff actions on rooms and users, for the admin and the API alike.

Each calls the same domain service as the socket event it mirrors, as an actor without a socket
(`actor_id=None`, `actor_sid=None`: no owner or admin check, and the room gets the event the way
every member does), so connected clients see exactly the broadcasts they know:

    close room        rooms.close_room           room:closed {roomId, reason: "closed_by_staff"} + leave
    remove from seat  SeatService.remove_unchecked  seat:cleared, the user's producer closed
    mute / unmute     SeatService.set_muted       seat:userMuted, the user's producer paused / resumed
    lock / unlock     SeatService.lock / unlock   seat:locked (and seat:cleared if it kicked someone)
    disconnect user   realtime.disconnect_user    the user's sockets closed (io server disconnect)

and each writes one ModerationLog row, done, refused (the domain's text) or failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from asgiref.sync import async_to_sync

from apps.realtime.event_registry import ClientError
from apps.realtime.socket_disconnect import disconnect_user
from apps.rooms.service import close_room, room_service
from apps.seats.service import seat_service
from apps.staff.models import ModerationAction, ModerationLog, ModerationOutcome
from flylive.js_number import js_number

logger = logging.getLogger(__name__)

STAFF_CLOSE_REASON = "closed_by_staff"
ROOM_ACTIONS = (ModerationAction.CLOSE_ROOM,)
USER_SEAT_ACTIONS = (ModerationAction.SEAT_REMOVE, ModerationAction.SEAT_MUTE, ModerationAction.SEAT_UNMUTE)
SEAT_ACTIONS = (ModerationAction.SEAT_LOCK, ModerationAction.SEAT_UNLOCK)


@dataclass(frozen=True)
class StaffAction:
    action: ModerationAction
    room_id: str = ""
    user_id: int | float | None = None
    seat_index: int | None = None

    def __post_init__(self) -> None:
        needs_room = self.action in (*ROOM_ACTIONS, *USER_SEAT_ACTIONS, *SEAT_ACTIONS)
        needs_user = self.action in (*USER_SEAT_ACTIONS, ModerationAction.DISCONNECT_USER)
        if needs_room and not self.room_id:
            raise ValueError(f"{self.action} needs a room id")
        if needs_user and self.user_id is None:
            raise ValueError(f"{self.action} needs a user id")
        if self.action in SEAT_ACTIONS and self.seat_index is None:
            raise ValueError(f"{self.action} needs a seat index")


async def _require_open(room_id: str) -> None:
    if await room_service().repo.get_state(room_id) is None:
        raise ClientError("Room not found")


async def _perform(a: StaffAction) -> str:
    """Run the action; a short text of what happened. ClientError: the domain refused it."""
    if a.action == ModerationAction.CLOSE_ROOM:
        if not await close_room(a.room_id, STAFF_CLOSE_REASON):
            raise ClientError("Room not found")
        return "room closed"
    if a.action == ModerationAction.DISCONNECT_USER:
        assert a.user_id is not None
        count = await disconnect_user(a.user_id)
        if count == 0:
            raise ClientError("User is not connected")
        return f"{count} socket(s) disconnected"
    await _require_open(a.room_id)
    seats = seat_service()
    if a.action in USER_SEAT_ACTIONS:
        assert a.user_id is not None
        if a.action == ModerationAction.SEAT_REMOVE:
            try:
                await seats.remove_unchecked(a.room_id, a.user_id, actor_sid=None)
            except ClientError as refused:  # the socket event's text speaks to the seated user
                raise ClientError("User is not seated" if refused.message == "You are not seated"
                                  else refused.message) from None
            return "removed from seat"
        muted = a.action == ModerationAction.SEAT_MUTE
        await seats.set_muted(a.room_id, None, a.user_id, muted, actor_sid=None)
        return "muted" if muted else "unmuted"
    assert a.seat_index is not None
    if a.action == ModerationAction.SEAT_LOCK:
        await seats.lock(a.room_id, None, a.seat_index, actor_sid=None)
        return "seat locked"
    await seats.unlock(a.room_id, None, a.seat_index, actor_sid=None)
    return "seat unlocked"


def perform(action: StaffAction, *, actor: Any, via: Literal["admin", "api"]) -> ModerationLog:
    """Run a staff action (from sync code: the admin and API views) and log it."""
    try:
        detail = async_to_sync(_perform)(action)
        outcome = ModerationOutcome.DONE
    except ClientError as refused:
        outcome, detail = ModerationOutcome.REFUSED, refused.message
    except Exception:
        logger.exception("staff action %s failed: %s", action.action, action)
        outcome, detail = ModerationOutcome.FAILED, "Internal server error"
    return log_action(action.action, actor=actor, via=via, outcome=outcome, detail=detail,
                      room_id=action.room_id, user_id=action.user_id, seat_index=action.seat_index)


def log_action(action: ModerationAction, *, actor: Any, via: Literal["admin", "api"],
               outcome: ModerationOutcome, detail: str, room_id: str = "",
               user_id: int | float | None = None, seat_index: int | None = None) -> ModerationLog:
    user = actor if getattr(actor, "pk", None) is not None else None
    return ModerationLog.objects.create(
        actor=user, actor_name=getattr(user, "username", "") if user is not None else "", via=via,
        action=action, room_id=room_id, target_user_id="" if user_id is None else js_number(user_id),
        seat_index=seat_index, outcome=outcome, detail=detail[:2000])

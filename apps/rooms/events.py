"""Socket.IO handlers of the room events: room:join, room:leave, user:getRoom; disconnect
cleanup; the socket's room recorded for the dead-instance sweep; and `room.force_leave`, the
channel-layer message close_room sends to a room's group."""

from __future__ import annotations

import logging
from typing import Any

from apps.realtime.event_registry import (
    AckStyle,
    EventContext,
    RateLimit,
    SocketSession,
    event,
    on_channel_message,
    on_disconnect,
    on_room_leave,
    set_room_activity_recorder,
)
from apps.realtime.web_instance import record_socket_room
from apps.rooms.schemas import RoomJoin, RoomJoinAck, RoomLeave, UserGetRoom
from apps.rooms.service import FORCE_LEAVE_MESSAGE_TYPE, room_service

logger = logging.getLogger(__name__)


@event("room:join", schema=RoomJoin, ack=AckStyle.PLAIN,
       rate_limit=RateLimit("roomjoin", lambda config: config.ROOM_JOIN_RATE_LIMIT_PER_MINUTE, 60,
                            "Too many requests", before_validation=False))
async def join_room(ctx: EventContext, p: RoomJoin) -> RoomJoinAck:
    return await room_service().join(ctx, p.roomId, p.seatCount)


@event("room:leave", schema=RoomLeave, ack=AckStyle.NONE)
async def leave_room(ctx: EventContext, p: RoomLeave) -> None:
    await room_service().leave(ctx, p.roomId)


@event("user:getRoom", schema=UserGetRoom, ack=AckStyle.PLAIN,
       invalid_ack={"roomId": None, "error": "Invalid payload"})
async def get_user_room(ctx: EventContext, p: UserGetRoom) -> dict[str, str | None]:
    try:
        return {"roomId": await room_service().get_user_room(p.userId)}
    except Exception:
        # The baseline swallows Redis errors here and answers "not in a room".
        logger.exception("user:getRoom lookup failed for %s", p.userId)
        return {"roomId": None}


@on_disconnect
async def leave_room_on_disconnect(session: SocketSession) -> None:
    await room_service().socket_gone(session)


@on_room_leave
async def forget_room_of_socket(session: SocketSession, room_id: str) -> None:
    await record_socket_room(session, None)


@on_channel_message(FORCE_LEAVE_MESSAGE_TYPE)
async def leave_closed_room(ctx: EventContext, message: dict[str, Any]) -> None:
    """The room was closed: stop receiving its broadcasts and forget it (state is already gone),
    unless this socket already joined the fresh room that came after."""
    await room_service().forced_out(ctx, str(message.get("roomId")))


async def record_room_activity(room_id: str) -> None:
    await room_service().touch_activity(room_id)


# Every event declared with `room_activity=True` (media, seats, chat, gifts) lands here.
set_room_activity_recorder(record_room_activity)

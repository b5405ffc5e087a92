"""Socket.IO handlers of the room events: room:join, room:leave, user:getRoom, and disconnect."""

from __future__ import annotations

import logging

from apps.media import gateway
from apps.realtime.dispatch import AckStyle, EventContext, SocketSession, event, on_disconnect
from apps.rooms.schemas import RoomJoin, RoomJoinAck, RoomLeave, UserGetRoom
from apps.rooms.service import on_room_leave, room_service

logger = logging.getLogger(__name__)


@event("room:join", schema=RoomJoin, ack=AckStyle.PLAIN)
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
async def release_media_on_leave(session: SocketSession, room_id: str) -> None:
    """A full leave (contract fix): the socket's transports, producers and consumers go too."""
    await gateway.release_socket_media(room_id, session.sid)

"""The media events (contract 2.3-2.8), registered with the dispatch layer.

Each handler checks membership, then asks the room's media node through the
gateway; the node owns ownership checks (a socket only touches what it made),
the transport limit and the mediasoup calls, and answers with the contract's
error texts. Server events of the media plane (audio:newProducer,
audio:producerClosed, speaker:active, room:closed) are emitted by the node.
"""

from __future__ import annotations

import logging
from typing import Any

from apps.media import gateway
from apps.media.schemas import (
    AudioConsume,
    AudioProduce,
    ConsumerResume,
    SelfMute,
    SelfMutedEvent,
    TransportConnect,
    TransportCreate,
    wire,
)
from apps.realtime.emit import Room
from apps.realtime.event_registry import EventContext, SocketSession, event, on_disconnect, on_room_leave

logger = logging.getLogger(__name__)

# session.extras key: the rooms where this socket made media (released on disconnect).
MEDIA_ROOMS = "media_rooms"


def _remember_room(ctx: EventContext, room_id: str) -> None:
    rooms: set[str] = ctx.session.extras.setdefault(MEDIA_ROOMS, set())
    rooms.add(room_id)


@event("transport:create", schema=TransportCreate, room_activity=True)
async def transport_create(ctx: EventContext, p: TransportCreate) -> dict[str, Any]:
    ctx.require_member(p.roomId)
    _remember_room(ctx, p.roomId)
    return await gateway.create_transport(p.roomId, ctx.sid, ctx.user_id, p.type)


@event("transport:connect", schema=TransportConnect, room_activity=True)
async def transport_connect(ctx: EventContext, p: TransportConnect) -> None:
    ctx.require_member(p.roomId)
    await gateway.connect_transport(p.roomId, ctx.sid, p.transportId, wire(p.dtlsParameters))


@event("audio:produce", schema=AudioProduce, room_activity=True)
async def audio_produce(ctx: EventContext, p: AudioProduce) -> dict[str, Any]:
    ctx.require_member(p.roomId)
    producer_id = await gateway.produce(p.roomId, ctx.sid, ctx.user_id, p.transportId, wire(p.rtpParameters))
    return {"id": producer_id}


@event("audio:consume", schema=AudioConsume, room_activity=True)
async def audio_consume(ctx: EventContext, p: AudioConsume) -> dict[str, Any]:
    ctx.require_member(p.roomId)
    return await gateway.consume(p.roomId, ctx.sid, p.transportId, p.producerId, wire(p.rtpCapabilities))


@event("consumer:resume", schema=ConsumerResume, room_activity=True)
async def consumer_resume(ctx: EventContext, p: ConsumerResume) -> dict[str, Any] | None:
    ctx.require_member(p.roomId)
    deferred = await gateway.resume_consumer(p.roomId, ctx.sid, p.consumerId)
    return {"deferred": True} if deferred else None


async def _self_mute(ctx: EventContext, p: SelfMute, muted: bool) -> None:
    ctx.require_member(p.roomId)
    await gateway.set_producer_paused(p.roomId, ctx.sid, p.producerId, muted)
    await ctx.emit(Room(p.roomId, exclude_sid=ctx.sid), "seat:userMuted",
                   wire(SelfMutedEvent(userId=ctx.user_id, isMuted=muted)))


@event("audio:selfMute", schema=SelfMute, room_activity=True)
async def audio_self_mute(ctx: EventContext, p: SelfMute) -> None:
    await _self_mute(ctx, p, True)


@event("audio:selfUnmute", schema=SelfMute, room_activity=True)
async def audio_self_unmute(ctx: EventContext, p: SelfMute) -> None:
    await _self_mute(ctx, p, False)


@on_room_leave
async def release_media_on_room_leave(session: SocketSession, room_id: str) -> None:
    """room:leave, joining another room, the room closing, disconnect: close the socket's media there."""
    session.extras.get(MEDIA_ROOMS, set()).discard(room_id)
    await gateway.release_socket_media(room_id, session.sid)


@on_disconnect
async def release_media_on_disconnect(session: SocketSession) -> None:
    """Rooms the leave hook did not cover (the socket's room is released by it)."""
    for room_id in list(session.extras.get(MEDIA_ROOMS, set())):
        try:
            await gateway.release_socket_media(room_id, session.sid)
        except Exception:
            logger.exception("could not release the media of socket %s in room %s", session.sid, room_id)

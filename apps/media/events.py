"""The media events (contract 2.3-2.8), registered with the dispatch layer.

Each handler checks membership, then asks the room's media node through the
gateway; the node owns ownership checks (a socket only touches what it made),
the transport limit and the mediasoup calls, and answers with the contract's
error texts. Server events of the media plane (audio:newProducer,
audio:producerClosed, speaker:active) are emitted by the node.

Each socket has a membership epoch, one more at each room join, sent with its media
requests: a release (room:leave, another room, disconnect) covers what the socket made
up to its epoch, even a transport the node was still making when the release came.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
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
from apps.realtime.event_registry import (
    EventContext,
    SocketSession,
    event,
    on_disconnect,
    on_room_join,
    on_room_leave,
)

logger = logging.getLogger(__name__)

# session.extras key of the socket's media state.
SOCKET_MEDIA = "media"


@dataclass
class SocketMedia:
    epoch: int = 0  # membership epoch: one more at each room join
    rooms: set[str] = field(default_factory=set)  # where it made media (released on disconnect)


def socket_media(session: SocketSession) -> SocketMedia:
    state = session.extras.get(SOCKET_MEDIA)
    if not isinstance(state, SocketMedia):
        state = session.extras[SOCKET_MEDIA] = SocketMedia()
    return state


def _member_epoch(ctx: EventContext, room_id: str) -> int:
    """The socket's epoch in `room_id`, which it must have joined (`Room not found` otherwise)."""
    ctx.require_member(room_id)
    return socket_media(ctx.session).epoch


@event("transport:create", schema=TransportCreate, room_activity=True)
async def transport_create(ctx: EventContext, p: TransportCreate) -> dict[str, Any]:
    epoch = _member_epoch(ctx, p.roomId)
    socket_media(ctx.session).rooms.add(p.roomId)
    return await gateway.create_transport(p.roomId, ctx.sid, ctx.user_id, p.type, epoch=epoch)


@event("transport:connect", schema=TransportConnect, room_activity=True)
async def transport_connect(ctx: EventContext, p: TransportConnect) -> None:
    epoch = _member_epoch(ctx, p.roomId)
    await gateway.connect_transport(p.roomId, ctx.sid, p.transportId, wire(p.dtlsParameters), epoch=epoch)


@event("audio:produce", schema=AudioProduce, room_activity=True)
async def audio_produce(ctx: EventContext, p: AudioProduce) -> dict[str, Any]:
    epoch = _member_epoch(ctx, p.roomId)
    producer_id = await gateway.produce(p.roomId, ctx.sid, ctx.user_id, p.transportId, wire(p.rtpParameters),
                                        epoch=epoch)
    return {"id": producer_id}


@event("audio:consume", schema=AudioConsume, room_activity=True)
async def audio_consume(ctx: EventContext, p: AudioConsume) -> dict[str, Any]:
    epoch = _member_epoch(ctx, p.roomId)
    return await gateway.consume(p.roomId, ctx.sid, p.transportId, p.producerId, wire(p.rtpCapabilities),
                                 epoch=epoch)


@event("consumer:resume", schema=ConsumerResume, room_activity=True)
async def consumer_resume(ctx: EventContext, p: ConsumerResume) -> dict[str, Any] | None:
    epoch = _member_epoch(ctx, p.roomId)
    deferred = await gateway.resume_consumer(p.roomId, ctx.sid, p.consumerId, epoch=epoch)
    return {"deferred": True} if deferred else None


async def _self_mute(ctx: EventContext, p: SelfMute, muted: bool) -> None:
    epoch = _member_epoch(ctx, p.roomId)
    await gateway.set_producer_paused(p.roomId, ctx.sid, p.producerId, muted, epoch=epoch)
    await ctx.emit(Room(p.roomId, exclude_sid=ctx.sid), "seat:userMuted",
                   wire(SelfMutedEvent(userId=ctx.user_id, isMuted=muted)))


@event("audio:selfMute", schema=SelfMute, room_activity=True)
async def audio_self_mute(ctx: EventContext, p: SelfMute) -> None:
    await _self_mute(ctx, p, True)


@event("audio:selfUnmute", schema=SelfMute, room_activity=True)
async def audio_self_unmute(ctx: EventContext, p: SelfMute) -> None:
    await _self_mute(ctx, p, False)


@on_room_join
async def new_media_epoch(session: SocketSession, room_id: str) -> None:
    """A join starts a new epoch: releases of earlier memberships do not touch what it makes."""
    socket_media(session).epoch += 1


@on_room_leave
async def release_media_on_room_leave(session: SocketSession, room_id: str) -> None:
    """room:leave, joining another room, the room closing, disconnect: close the socket's media there."""
    state = socket_media(session)
    if room_id not in state.rooms:
        return  # it made no media there (transport:create records the room before asking the node)
    state.rooms.discard(room_id)
    await gateway.release_socket_media(room_id, session.sid, state.epoch)


@on_disconnect
async def release_media_on_disconnect(session: SocketSession) -> None:
    """Rooms the leave hook did not cover (the socket's room is released by it)."""
    state = socket_media(session)
    for room_id in list(state.rooms):
        try:
            await gateway.release_socket_media(room_id, session.sid, state.epoch)
        except Exception:
            logger.exception("could not release the media of socket %s in room %s", session.sid, room_id)

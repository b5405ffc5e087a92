"""The one path by which the server sends events to clients.

Targets (contract section 0): Room (ROOM*, or ROOM- with exclude_sid), Socket
(SELF/SOCKET), User (every socket in `user:{id}:sockets`), Everyone. ROOM+ is
`Room(room, exclude_sid=me)` then `Socket(me)`.

    await emit(Room(room_id, exclude_sid=ctx.sid), "seat:updated", {...})

How it travels: the payload is encoded into its Socket.IO frame once, here.
- Room -> the channel layer group `room.<sha1(room id)>` (Redis pub/sub: one
  publish, every web process with members receives it once and decodes it once);
  the layer hands the frame to each local member socket in one pass
  (`deliver_to_local_socket`), which skips the excluded socket.
- Everyone -> the group every connected socket joins.
- Socket(sid) -> a socket's sid is its channel name, so a socket on another
  process gets it with `channel_layer.send(sid)`; one on this process directly.
- User -> SMEMBERS `user:{id}:sockets`, then as Socket for each.
Ordering: frames to one socket are written in the order they reach it. A
direct (same-process) Socket emit does not wait for Room broadcasts that are
still travelling through Redis, so a ROOM* broadcast that includes the sender
may reach the sender after a later Socket emit to it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.layers import get_channel_layer

from apps.realtime.channel_layer import deliver_locally
from apps.realtime.codec import event_frame
from apps.realtime.loop_services import get_services

logger = logging.getLogger(__name__)

# Channel-layer message that carries one encoded frame to a consumer.
FRAME_MESSAGE_TYPE = "socketio.frame"
EVERYONE_GROUP = "flylive.everyone"


@dataclass(frozen=True)
class Room:
    room_id: str
    exclude_sid: str | None = None
    # The frame announces the room's new member number N (`room:userJoined`): members whose
    # own join came later (a higher number) listed it in their join ack, and are skipped.
    # A delivery hint, not part of the target's identity.
    new_member_seq: int | None = field(default=None, compare=False)


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


class LocalSocket(Protocol):
    """A socket connected to this process (the consumer's connection)."""

    def send_frame(self, frame: str) -> None: ...

    def send_announcement(self, frame: str, member_seq: int) -> None:
        """A frame announcing the room's new member `member_seq` (see Room.new_member_seq)."""


# sid -> socket, for sockets connected to this process.
_local_sockets: dict[str, LocalSocket] = {}


def register_local_socket(sid: str, socket: LocalSocket) -> None:
    _local_sockets[sid] = socket


def unregister_local_socket(sid: str) -> None:
    _local_sockets.pop(sid, None)


def local_socket_count() -> int:
    return len(_local_sockets)


def local_socket(sid: str) -> LocalSocket | None:
    """The socket `sid` if it is connected to this process (deliveries that must reach each
    socket once across processes send only to their own: Laravel events)."""
    return _local_sockets.get(sid)


def local_socket_ids() -> list[str]:
    """The sockets connected to this process, as of now."""
    return list(_local_sockets)


def deliver_to_local_socket(sid: str, message: dict[str, Any]) -> bool:
    """The channel layer's local fan-out: a group's frame message straight into the outbox of
    member `sid` (False, so the layer queues it for the socket's reader, for anything else)."""
    if message.get("type") != FRAME_MESSAGE_TYPE:
        return False
    socket = _local_sockets.get(sid)
    frame = message.get("frame")
    if socket is None or not isinstance(frame, str):
        return False
    if message.get("exclude") == sid:
        return True
    announced = message.get("member_seq")
    if isinstance(announced, int):
        socket.send_announcement(frame, announced)
    else:
        socket.send_frame(frame)
    return True


deliver_locally(deliver_to_local_socket)


def room_group(room_id: str) -> str:
    """A channel-layer-safe group name for any room id (ids are free text)."""
    return "room." + hashlib.sha1(room_id.encode("utf-8", "surrogatepass")).hexdigest()


def frame_message(frame: str, exclude_sid: str | None = None,
                  new_member_seq: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": FRAME_MESSAGE_TYPE, "frame": frame}
    if exclude_sid is not None:
        message["exclude"] = exclude_sid
    if new_member_seq:
        message["member_seq"] = new_member_seq
    return message


async def emit(target: Target, event: str, payload: Any) -> None:
    """Send `event` with `payload` to `target`, across every web process."""
    await send_frame(target, event_frame(event, payload))


async def send_frame(target: Target, frame: str) -> None:
    """Deliver an already encoded frame (see `codec.event_frame`) to `target`."""
    if isinstance(target, Socket):
        await _to_socket(target.sid, frame)
    elif isinstance(target, Room):
        await _layer().group_send(room_group(target.room_id),
                                  frame_message(frame, target.exclude_sid, target.new_member_seq))
    elif isinstance(target, User):
        sids = await get_services().sockets.sockets_of(target.user_id)
        await asyncio.gather(*(_to_socket(sid, frame) for sid in sids))
    elif isinstance(target, Everyone):
        await _layer().group_send(EVERYONE_GROUP, frame_message(frame))
    else:
        raise TypeError(f"not an emit target: {target!r}")


async def _to_socket(sid: str, frame: str) -> None:
    local = _local_sockets.get(sid)
    if local is not None:
        local.send_frame(frame)
        return
    await _layer().send(sid, frame_message(frame))


def _layer() -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    return layer

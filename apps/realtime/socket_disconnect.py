"""Closing a user's sockets from any process (the staff action "disconnect user").

A socket's sid is its channel name, so a `socket.disconnect` message sent there reaches its
connection on whichever web process serves it. The connection answers (apps/realtime/events.py)
as socket.io's `socket.disconnect(true)` does: Socket.IO's DISCONNECT packet (the client sees
`io server disconnect` and does not reconnect on its own), then the websocket closes and the usual
disconnect cleanup runs (the user's seat, the room's count and broadcasts).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from channels.layers import get_channel_layer

from apps.realtime.loop_services import get_services

DISCONNECT_MESSAGE_TYPE = "socket.disconnect"


@runtime_checkable
class ClosableConnection(Protocol):
    """A live connection that can be closed (apps.realtime.connection.SocketIOConnection)."""

    def send_frame(self, frame: str) -> None: ...

    def close(self, code: int = ..., reason: str = ...) -> None: ...


async def disconnect_user(user_id: int | float) -> int:
    """Disconnect every socket of the user, on every web process; how many were asked to close."""
    sids = await get_services().sockets.sockets_of(user_id)
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    for sid in sorted(sids):
        await layer.send(sid, {"type": DISCONNECT_MESSAGE_TYPE})
    return len(sids)

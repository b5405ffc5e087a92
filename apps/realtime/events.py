"""The realtime layer's own channel-layer messages (discovered with every app's `events`)."""

from __future__ import annotations

from typing import Any

from apps.realtime import codec
from apps.realtime.event_registry import EventContext, on_channel_message
from apps.realtime.socket_disconnect import DISCONNECT_MESSAGE_TYPE, ClosableConnection

NORMAL_CLOSURE = 1000


@on_channel_message(DISCONNECT_MESSAGE_TYPE)
async def disconnect_socket(ctx: EventContext, message: dict[str, Any]) -> None:
    """Staff disconnected this socket's user: DISCONNECT, then close (as `socket.disconnect(true)`)."""
    connection = ctx.connection
    if isinstance(connection, ClosableConnection):
        connection.send_frame(codec.disconnect_frame())
        connection.close(NORMAL_CLOSURE, "server disconnect")

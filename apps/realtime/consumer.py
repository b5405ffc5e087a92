"""The Channels consumer at `/socket.io/`: Engine.IO 4 / Socket.IO 5 over a websocket.

It replaces AsyncConsumer's message loop with its own (see connection.py):
Channels would run every message through one sequential `dispatch()` with a
thread hop per message to close DB connections, and would subscribe a channel
before the socket even authenticated. Here the channel (whose name is the
socket's sid) exists only for authenticated sockets.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer
from channels.layers import get_channel_layer

from apps.realtime.codec import dumps
from apps.realtime.connection import ASGIReceive, ASGISend, SocketIOConnection
from apps.realtime.loop_services import get_services

logger = logging.getLogger(__name__)

# engine.io's error for a handshake it cannot serve (its JSON shape: {"code", "message"}).
UNSUPPORTED_PROTOCOL = {"code": 5, "message": "Unsupported protocol version: this server speaks EIO=4 only"}
BAD_TRANSPORT = {"code": 0, "message": "Transport unknown: only transport=websocket is served"}


def handshake_problem(scope: dict[str, Any]) -> dict[str, Any] | None:
    """Why this websocket request cannot be served, or None."""
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    if query.get("EIO", [None])[0] != "4":
        return UNSUPPORTED_PROTOCOL
    if query.get("transport", ["websocket"])[0] != "websocket":
        return BAD_TRANSPORT
    return None


class SocketIOConsumer(AsyncConsumer):  # type: ignore[misc]
    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        self.scope = scope
        self.base_send = send
        if scope["type"] != "websocket":
            raise ValueError("SocketIOConsumer serves websockets only")
        first = await receive()
        if first["type"] != "websocket.connect":
            return
        problem = handshake_problem(scope)
        if problem is not None:
            await refuse_websocket(scope, send, problem)
            return
        services = get_services()
        config = services.config
        connection = SocketIOConnection(
            scope,
            send,
            services=services,
            channel_layer=get_channel_layer(self.channel_layer_alias),
            ping_interval=config.SOCKET_PING_INTERVAL_MS / 1000,
            ping_timeout=config.SOCKET_PING_TIMEOUT_MS / 1000,
        )
        await send({"type": "websocket.accept"})
        await connection.run(receive)


async def refuse_websocket(scope: dict[str, Any], send: ASGISend, error: dict[str, Any]) -> None:
    """Refuse before accepting: an HTTP 400 with engine.io's JSON where the server can send one
    (ASGI's websocket denial response), else the plain refusal (HTTP 403)."""
    logger.info("websocket refused: %s (query %r)", error["message"], scope.get("query_string", b"")[:200])
    if "websocket.http.response" in scope.get("extensions", {}):
        body = dumps(error).encode()
        await send({"type": "websocket.http.response.start", "status": 400,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1002, "reason": error["message"]})

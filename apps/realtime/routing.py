"""ASGI routing of the realtime layer: `/socket.io/` for websockets (and refused polling)."""

from __future__ import annotations

from typing import Any

from apps.realtime.connection import ASGIReceive, ASGISend
from apps.realtime.consumer import SocketIOConsumer
from apps.realtime.polling import polling_refused

SOCKET_IO_PATHS = ("/socket.io/", "/socket.io")

socketio_consumer = SocketIOConsumer.as_asgi()


def is_socketio_path(scope: dict[str, Any]) -> bool:
    return scope.get("path") in SOCKET_IO_PATHS


async def websocket_application(scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
    if is_socketio_path(scope):
        await socketio_consumer(scope, receive, send)
        return
    # Any other websocket path: refuse (HTTP 403), as there is nothing else to connect to.
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1000})


async def lifespan_application(scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
    """Acknowledge uvicorn's lifespan messages (daphne sends none)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


__all__ = ["is_socketio_path", "lifespan_application", "polling_refused", "websocket_application"]

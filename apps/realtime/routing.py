"""ASGI routing of the realtime layer: `/socket.io/` for websockets (and refused polling)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

# Each web process subscribes to the events Laravel publishes, for its own sockets.
from apps.integrations.laravel_events import start_laravel_events, stop_laravel_events
from apps.realtime.connection import (
    SHUTDOWN_CLEANUP_SECONDS,
    ASGIReceive,
    ASGISend,
    close_all_sockets,
)
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
    """uvicorn's lifespan (daphne sends none): at shutdown, let every socket's disconnect
    cleanup finish (uvicorn has closed the websockets by then)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await start_laravel_events()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await close_all_sockets(SHUTDOWN_CLEANUP_SECONDS)
            await stop_laravel_events()
            await send({"type": "lifespan.shutdown.complete"})
            return


def install_daphne_shutdown_hook() -> None:
    """daphne has no lifespan: when it runs us (on Twisted's reactor), close our websockets before
    it stops, so disconnect hooks (room leave, counts) run for every socket."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    async def shutdown() -> None:
        await close_all_sockets(SHUTDOWN_CLEANUP_SECONDS)
        await stop_laravel_events()

    def before_shutdown() -> defer.Deferred[None]:
        return defer.Deferred.fromFuture(asyncio.ensure_future(shutdown()))

    reactor.callWhenRunning(lambda: asyncio.ensure_future(start_laravel_events()))
    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)  # type: ignore[arg-type]


__all__ = ["install_daphne_shutdown_hook", "is_socketio_path", "lifespan_application", "polling_refused",
           "websocket_application"]

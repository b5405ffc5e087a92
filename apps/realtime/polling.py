"""Plain HTTP requests to `/socket.io/` (engine.io's long-polling transport): refused.

Only the websocket transport is served; clients connect with
`transports: ['websocket']`. A polling client gets a 400 in engine.io's error
shape (`{"code": 0, "message": ...}`) that says so, instead of a bare 404.
"""

from __future__ import annotations

from typing import Any

from apps.realtime.codec import dumps
from apps.realtime.connection import ASGIReceive, ASGISend

POLLING_REFUSED = {
    "code": 0,
    "message": "Transport unknown: this server serves only the websocket transport "
               "(connect with transports: ['websocket'])",
}


async def polling_refused(scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
    body = dumps(POLLING_REFUSED).encode()
    await send({
        "type": "http.response.start",
        "status": 400,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})

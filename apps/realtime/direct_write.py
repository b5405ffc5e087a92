"""A broadcast's websocket frame built once per process and written as is to each socket.

Through the ASGI `send`, uvicorn's websockets-sansio protocol encodes the text, builds a
websockets `Frame`, serializes it and joins the output again for every socket: a room
broadcast paid that (in py-spy, 45% of a delivery's samples; the socket write was the rest)
hundreds of times for one and the same frame. Here the frame is serialized once by
websockets' own `Frame.serialize` and each socket's transport gets the bytes.

No library offers a "write these frame bytes to that ASGI websocket": this reaches into
uvicorn's protocol object, so it is used only when

- the ASGI `send` is exactly `WebSocketsSansIOProtocol.send` (uvicorn is pinned; any other
  server or implementation gets `None` and keeps the ASGI path), and
- at each write, that send would itself write at once and unchanged: handshake done, no
  close sent, not disconnected, the transport neither closing nor paused (flow control), the
  websocket OPEN, no extension negotiated (permessage-deflate changes the frame per socket).

Otherwise `write` returns False and the caller takes the ASGI path, which waits, raises or
compresses exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

# The last frame serialized: a broadcast hands the same str object to every local socket.
_last_text: str | None = None
_last_wire = b""


def text_frame_bytes(text: str) -> bytes:
    """The unmasked websocket text frame carrying `text`, as a server writes it."""
    global _last_text, _last_wire
    if text is _last_text:
        return _last_wire
    wire = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
    _last_text, _last_wire = text, wire
    return wire


class DirectFrameWriter:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def write(self, text: str) -> bool:
        """Write `text`'s frame now, if the server's own send would (see the module): True when
        written, False when the caller must use the ASGI send."""
        protocol = self._protocol
        if (not protocol.handshake_complete or protocol.close_sent or protocol.disconnected
                or protocol.initial_response is not None or not protocol.writable.is_set()):
            return False
        conn = protocol.conn
        if conn.state is not State.OPEN or conn.extensions or conn.expect_continuation_frame:
            return False
        transport = protocol.transport
        if transport.is_closing():  # closed by the server, connection_lost not yet run
            return False
        try:
            transport.write(text_frame_bytes(text))
        except Exception:  # a lone surrogate, a transport gone under us: the ASGI send decides
            return False
        return True


def direct_writer(send: Callable[..., Any]) -> DirectFrameWriter | None:
    """A direct writer for the websocket behind the ASGI `send`, or None (another server)."""
    protocol = getattr(send, "__self__", None)
    method = getattr(send, "__func__", None)
    if type(protocol) is WebSocketsSansIOProtocol and method is WebSocketsSansIOProtocol.send:
        return DirectFrameWriter(protocol)
    return None

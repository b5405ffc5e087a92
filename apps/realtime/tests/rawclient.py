"""A raw Engine.IO 4 / Socket.IO 5 websocket client, for what real clients never send.

It speaks the protocol frame by frame (so a test can send garbage, skip pongs,
send binary) and keeps every frame it received for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class RawSocket:
    def __init__(self, ws: ClientConnection, open_packet: dict[str, Any], *, auto_pong: bool) -> None:
        self.ws = ws
        self.open_packet = open_packet
        self.auto_pong = auto_pong
        self.received: list[str | bytes] = []  # every frame but pings
        self.pings = 0
        self.sid: str | None = None

    @classmethod
    async def open(
        cls,
        ws_url: str,
        *,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        auto_pong: bool = True,
    ) -> RawSocket:
        extra = dict(headers or {})
        if origin is not None:
            extra["Origin"] = origin
        ws = await connect(
            ws_url,
            additional_headers=extra,
            max_size=None,
            ping_interval=None,
            compression=None,
            open_timeout=10,
            close_timeout=2,
        )
        first = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(first, str), first
        assert first.startswith("0"), first
        return cls(ws, json.loads(first[1:]), auto_pong=auto_pong)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def send(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def recv(self, within: float = 5.0) -> str | bytes:
        """The next frame that is not a ping (pings are answered when auto_pong)."""
        deadline = time.monotonic() + within
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), max(0.001, deadline - time.monotonic()))
            if frame == "2":
                self.pings += 1
                if self.auto_pong:
                    await self.ws.send("3")
                continue
            self.received.append(frame)
            return frame

    async def connect(self, auth: Any = None) -> str:
        """Send CONNECT for `/`; return the answer frame (`40{...}` or `44{...}`)."""
        await self.send("40" if auth is None else "40" + json.dumps(auth))
        while True:
            frame = await self.recv(10)
            if isinstance(frame, str) and frame.startswith(("40", "44")):
                if frame.startswith("40"):
                    self.sid = json.loads(frame[2:])["sid"]
                return frame

    async def emit(self, event: str, *args: Any, ack_id: int | None = None) -> None:
        await self.send("42" + ("" if ack_id is None else str(ack_id)) + json.dumps([event, *args]))

    async def wait_ack(self, ack_id: int, within: float = 5.0) -> list[Any]:
        prefix = f"43{ack_id}["
        deadline = time.monotonic() + within
        while True:
            frame = await self.recv(max(0.001, deadline - time.monotonic()))
            if isinstance(frame, str) and frame.startswith(prefix):
                result: list[Any] = json.loads(frame[len(prefix) - 1 :])
                return result

    async def wait_event(self, name: str, within: float = 5.0) -> list[Any]:
        deadline = time.monotonic() + within
        while True:
            frame = await self.recv(max(0.001, deadline - time.monotonic()))
            if isinstance(frame, str) and frame.startswith("42["):
                data = json.loads(frame[2:])
                if data[0] == name:
                    return list(data[1:])

    async def call(self, event: str, *args: Any, ack_id: int = 1, within: float = 5.0) -> Any:
        await self.emit(event, *args, ack_id=ack_id)
        return (await self.wait_ack(ack_id, within))[0]

    async def wait_closed(self, within: float = 5.0) -> tuple[int | None, str]:
        """Read until the server closes; return its close code and reason."""
        deadline = time.monotonic() + within
        try:
            while True:
                await self.recv(max(0.001, deadline - time.monotonic()))
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                return None, ""
            return closed.rcvd.code, closed.rcvd.reason

    async def quiet_for(self, seconds: float) -> list[str | bytes]:
        """Frames (but pings) received within `seconds`."""
        frames: list[str | bytes] = []
        with contextlib.suppress(TimeoutError):
            deadline = time.monotonic() + seconds
            while True:
                frames.append(await self.recv(max(0.001, deadline - time.monotonic())))
        return frames

"""A python-socketio client for end-to-end tests that keeps every event it receives.

    client = await RecordingClient(42).connect(live)        # a JWT for user 42
    ack = await client.call("seat:take", {"roomId": "r", "seatIndex": 0})
    [updated] = await other.wait_for("seat:updated")
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from tests.support.server import LiveServer, make_token, user_claims


class RecordingClient:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._arrived = asyncio.Condition()
        self.sio.on("*", self._on_event)

    async def _on_event(self, event: str, *args: Any) -> None:
        async with self._arrived:
            self.events.append((event, args[0] if args else None))
            self._arrived.notify_all()

    async def connect(self, server: LiveServer | str) -> RecordingClient:
        url = server if isinstance(server, str) else server.url
        token = make_token(user_claims(self.user_id))
        await self.sio.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=10)
        return self

    async def call(self, event: str, *args: Any) -> Any:
        """Emit with an ack and return it; no argument sends no payload, several send several."""
        data: Any = args[0] if len(args) == 1 else (tuple(args) if args else None)
        return await self.sio.call(event, data, timeout=10)

    def received(self, name: str) -> list[Any]:
        return [payload for event, payload in self.events if event == name]

    async def wait_for(self, name: str, count: int = 1, within: float = 5.0) -> list[Any]:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received(name)) >= count)
        return self.received(name)

    def clear(self) -> None:
        self.events.clear()

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

"""Frames written straight to uvicorn's websockets-sansio transport (direct_write.py), on a real
uvicorn server in this loop and a real websockets client: the bytes are the frames the server's
own send writes, interleave in order with that send, and the writer stands aside whenever the
server's send would not write at once (flow control, a closed socket, permessage-deflate)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from apps.realtime.direct_write import DirectFrameWriter, direct_writer, text_frame_bytes
from tests.support.processes import free_port

App = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[..., Awaitable[None]]],
               Awaitable[None]]


@contextlib.asynccontextmanager
async def uvicorn_serving(app: App, *, deflate: bool = False) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, ws="websockets-sansio",
                                           ws_per_message_deflate=deflate, ws_ping_interval=None,
                                           lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


class Recorder:
    """An ASGI websocket app that accepts, hands its writer to the test and waits for the end."""

    def __init__(self) -> None:
        self.ready: asyncio.Future[tuple[DirectFrameWriter | None, Callable[..., Awaitable[None]]]] = (
            asyncio.get_running_loop().create_future())
        self.done = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[..., Awaitable[None]]) -> None:
        assert scope["type"] == "websocket"
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        self.ready.set_result((direct_writer(send), send))
        await self.done.wait()


async def test_direct_frames_arrive_whole_and_in_order_with_the_server_send() -> None:
    app = Recorder()
    async with uvicorn_serving(app) as url, connect(url, compression=None) as client:
        writer, send = await asyncio.wait_for(app.ready, 5)
        assert writer is not None
        texts = ["short", "é" * 200, "x" * 70_000, '42["chat:message",{"content":"hi"}]']
        for index, text in enumerate(texts):
            if index % 2:
                await send({"type": "websocket.send", "text": text})
            else:
                assert writer.write(text)
        received = [await asyncio.wait_for(client.recv(), 5) for _ in texts]
        assert received == texts
        app.done.set()


async def test_the_frame_bytes_are_those_of_a_server_frame() -> None:
    assert text_frame_bytes("hi") == b"\x81\x02hi"
    assert text_frame_bytes("a" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame_bytes("a" * 65_536)[:10] == b"\x81\x7f" + (65_536).to_bytes(8, "big")
    shared = "same broadcast"
    assert text_frame_bytes(shared) is text_frame_bytes(shared)  # built once for all its sockets


async def test_permessage_deflate_keeps_the_server_send() -> None:
    app = Recorder()
    async with uvicorn_serving(app, deflate=True) as url, connect(url, compression="deflate") as client:
        writer, send = await asyncio.wait_for(app.ready, 5)
        assert writer is not None
        assert not writer.write("compressed per socket")  # the ASGI send compresses it
        await send({"type": "websocket.send", "text": "compressed per socket"})
        assert await asyncio.wait_for(client.recv(), 5) == "compressed per socket"
        app.done.set()


async def test_a_client_that_stops_reading_pauses_direct_writes() -> None:
    app = Recorder()
    async with uvicorn_serving(app) as url, connect(url, compression=None, max_size=None) as client:
        writer, send = await asyncio.wait_for(app.ready, 5)
        assert writer is not None
        chunk = "y" * 1_000_000
        written = 0
        # The client reads nothing: kernel buffers fill, then uvicorn pauses writing.
        while writer.write(chunk):
            written += 1
            assert written < 500, "the transport never paused"
            await asyncio.sleep(0)
        assert written > 0
        # The ASGI send waits for the pause to end; the client reads again, and everything comes.
        late = asyncio.ensure_future(send({"type": "websocket.send", "text": "after the pause"}))
        for _ in range(written):
            assert await asyncio.wait_for(client.recv(), 10) == chunk
        assert await asyncio.wait_for(client.recv(), 10) == "after the pause"
        await asyncio.wait_for(late, 5)
        assert writer.write("flowing again")
        assert await asyncio.wait_for(client.recv(), 5) == "flowing again"
        app.done.set()


async def test_a_closed_websocket_is_not_written() -> None:
    app = Recorder()
    async with uvicorn_serving(app) as url:
        async with connect(url, compression=None):
            writer, _ = await asyncio.wait_for(app.ready, 5)
            assert writer is not None
        for _ in range(100):  # the client has closed: the server sees it soon
            if not writer.write("anyone?"):
                break
            await asyncio.sleep(0.02)
        assert not writer.write("anyone?")
        app.done.set()


async def test_a_transport_the_server_is_closing_is_not_written() -> None:
    app = Recorder()
    async with uvicorn_serving(app) as url, connect(url, compression=None) as client:
        writer, send = await asyncio.wait_for(app.ready, 5)
        assert writer is not None
        protocol = send.__self__  # type: ignore[attr-defined]
        protocol.transport.close()  # as the server's close timer does; connection_lost comes later
        assert not protocol.disconnected
        assert not writer.write("too late")
        app.done.set()
        await client.wait_closed()


@pytest.mark.parametrize("send", [print, lambda message: None, object()])
def test_other_servers_sends_get_no_direct_writer(send: Any) -> None:
    assert direct_writer(send) is None

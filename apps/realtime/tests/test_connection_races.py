"""Races and leaks of one connection, in process, on the real Redis channel layer:

- a socket that closes while its connect still awaits Redis leaves no task, channel or
  record behind, and its cleanup (which server shutdown waits for) does not wait for Redis;
- the channel reader survives bad messages and the socket keeps receiving;
- channel-layer calls are bounded: a Redis that does not answer fails them in time.

Redis is made to stall with `CLIENT PAUSE` (WRITE: reads and SUBSCRIBE pass, writes and
scripts wait; ALL: everything waits)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.realtime import connection as connection_module
from apps.realtime.channel_layer import BoundedPubSubChannelLayer, ChannelLayerError
from apps.realtime.codec import event_frame
from apps.realtime.connection import SocketIOConnection
from apps.realtime.emit import frame_message
from apps.realtime.instance_keys import instance_sockets_key
from apps.realtime.loop_services import RealtimeServices
from apps.realtime.tests.conftest import eventually
from apps.realtime.web_instance import forget_web_instance
from apps.users.keys import user_sockets_key
from flylive.config import get_config
from flylive.metrics import REGISTRY as METRICS
from tests.support.processes import RedisServer
from tests.support.server import make_token, user_claims

USER_ID = 4242


class Harness:
    """One SocketIOConnection driven through its ASGI receive/send, as a server would."""

    def __init__(self, services: RealtimeServices, layer: BoundedPubSubChannelLayer) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: asyncio.Queue[str] = asyncio.Queue()
        self.connection = SocketIOConnection({"type": "websocket", "headers": []}, self._send,
                                             services=services, channel_layer=layer,
                                             ping_interval=25, ping_timeout=20)
        self.task = asyncio.create_task(self.connection.run(self.inbox.get))

    async def _send(self, message: Any) -> None:
        if message["type"] == "websocket.send":
            await self.sent.put(message["text"])
        elif message["type"] == "websocket.close":  # as a server does once the close is sent
            self.inbox.put_nowait({"type": "websocket.disconnect", "code": message["code"]})

    async def next_frame(self, within: float = 5.0) -> str:
        return await asyncio.wait_for(self.sent.get(), within)

    async def frame_starting(self, prefix: str, within: float = 5.0) -> str:
        while True:
            frame = await self.next_frame(within)
            if frame.startswith(prefix):
                return frame

    def client_sends(self, text: str) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": text})

    async def client_goes_away(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def layer(redis_server: RedisServer) -> AsyncIterator[BoundedPubSubChannelLayer]:
    channel_layer = BoundedPubSubChannelLayer(hosts=[redis_server.url(db=7)], prefix="races",
                                              call_timeout=0.5)
    yield channel_layer
    await channel_layer.flush()


@pytest.fixture
async def admin(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_server.url(db=7), decode_responses=True)
    await client.ping()
    yield client
    await client.execute_command("CLIENT", "UNPAUSE")
    await client.aclose()


@pytest.fixture
async def fresh_instance() -> AsyncIterator[None]:
    """No web instance on this loop yet: the first socket starts one (a Redis write)."""
    old = forget_web_instance()
    if old is not None:
        await old.stop()
    yield
    new = forget_web_instance()
    if new is not None:
        await new.stop()


def connect_packet() -> str:
    return "40" + json.dumps({"token": make_token(user_claims(USER_ID), secret=get_config().JWT_SECRET)})


async def subscribed(socket: Harness, within: float = 5.0) -> None:
    """Until the socket's connect has its channel (authenticated, subscribed)."""
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.01)):
        if socket.connection._channel_name is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert socket.connection._channel_name is not None, "connect never reached the channel layer"


def reader_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "socket channel reader" and not t.done()]


async def cleanups_done(within: float) -> float:
    """Seconds until every detached socket cleanup finished (AssertionError past `within`)."""
    started = time.monotonic()
    while connection_module._detached:
        if time.monotonic() - started > within:
            raise AssertionError(f"socket cleanup still running after {within}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_socket_closed_while_its_connect_awaits_redis_leaves_nothing_behind(
    services: RealtimeServices, layer: BoundedPubSubChannelLayer, admin: Redis, redis: Redis,
    fresh_instance: None,
) -> None:
    await services.redis.ping()  # warm connections: the pause below must catch only the setup
    socket = Harness(services, layer)
    assert (await socket.next_frame()).startswith("0{")
    await admin.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
    socket.client_sends(connect_packet())
    # Authenticated and subscribed (reads and SUBSCRIBE pass); now waiting on a write.
    await subscribed(socket)
    await asyncio.sleep(0.2)
    assert socket.connection.session is None
    channel = socket.connection._channel_name
    assert channel is not None

    await socket.client_goes_away()
    # The cleanup stops the setup instead of waiting out the stalled Redis (3 s).
    assert await cleanups_done(within=1.0) < 1.0
    await admin.execute_command("CLIENT", "UNPAUSE")
    await asyncio.sleep(0.3)  # anything the setup would still do, it would have done now
    assert reader_tasks() == []
    assert channel not in layer._get_layer().channels
    assert dict(await admin.pubsub_numsub(channel)) == {channel: 0}
    assert await redis.smembers(user_sockets_key(USER_ID)) == set()
    assert [key async for key in redis.scan_iter(match=instance_sockets_key("*"))] == []


async def test_shutdown_does_not_wait_for_a_stalled_connect(
    services: RealtimeServices, layer: BoundedPubSubChannelLayer, admin: Redis, fresh_instance: None,
) -> None:
    await services.redis.ping()
    socket = Harness(services, layer)
    await socket.next_frame()
    await admin.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
    socket.client_sends(connect_packet())
    await subscribed(socket)
    started = time.monotonic()
    await connection_module.close_all_sockets(grace_seconds=5)
    assert time.monotonic() - started < 1.0
    await asyncio.wait_for(socket.task, 1)
    assert reader_tasks() == []


async def test_the_channel_reader_survives_bad_messages(
    services: RealtimeServices, layer: BoundedPubSubChannelLayer, fresh_instance: None,
) -> None:
    socket = Harness(services, layer)
    await socket.next_frame()
    socket.client_sends(connect_packet())
    sid = json.loads((await socket.frame_starting("40"))[2:])["sid"]
    before = METRICS.get_sample_value("flylive_channel_layer_errors_total",
                                      {"operation": "channel_reader"}) or 0.0
    bad: list[Any] = [{"type": "socketio.frame"}, {"type": "socketio.frame", "frame": 5},
                      ["not", "a", "dict"], "text", {"type": 5}, {}]
    for message in bad:
        await layer._get_layer().send(sid, message)  # as raw as the layer carries
    await layer.send(sid, frame_message(event_frame("still:here", 1)))
    assert await socket.frame_starting('42["still:here"') == '42["still:here",1]'
    after = METRICS.get_sample_value("flylive_channel_layer_errors_total", {"operation": "channel_reader"})
    assert after == before + 4  # the frame without text, the non-dicts; unknown types are ignored
    await socket.client_goes_away()
    await cleanups_done(within=5)


async def test_a_closed_connection_is_freed_without_the_cycle_collector(
    services: RealtimeServices, layer: BoundedPubSubChannelLayer, fresh_instance: None,
) -> None:
    """A socket that connected, handled an event and left is freed by reference counting once
    the server drops it: the cycle collector (a full collection: a pause for the whole
    process) is not needed for it."""
    socket = Harness(services, layer)
    await socket.next_frame()
    socket.client_sends(connect_packet())
    await socket.frame_starting("40")
    socket.client_sends('42["no:such:event"]')  # an event through the dispatch layer
    socket.client_sends("2")  # an Engine.IO ping, answered by the connection itself
    await socket.frame_starting("3")
    await socket.client_goes_away()
    await cleanups_done(within=5)
    freed = weakref.ref(socket.connection)
    gc.disable()
    try:
        socket.connection = None  # type: ignore[assignment]  # what the server drops
        assert freed() is None, [type(r).__name__ for r in gc.get_referrers(freed())]
    finally:
        gc.enable()


# (SUBSCRIBE on a connection already in pub/sub mode is not paused by CLIENT PAUSE: PUBLISH is.)
@pytest.mark.parametrize("operation", ["send", "group_send"])
async def test_channel_layer_calls_fail_in_time_when_redis_stalls(
    layer: BoundedPubSubChannelLayer, admin: Redis, operation: str
) -> None:
    channel = await layer.new_channel()  # connections made before the stall
    await layer.group_send("warm", {"type": "x"})
    before = METRICS.get_sample_value("flylive_channel_layer_errors_total", {"operation": operation}) or 0.0
    await admin.execute_command("CLIENT", "PAUSE", 3000, "ALL")
    calls = {
        "send": lambda: layer.send(channel, {"type": "x"}),
        "group_send": lambda: layer.group_send("g", {"type": "x"}),
    }
    started = time.monotonic()
    with pytest.raises(ChannelLayerError):
        await calls[operation]()
    assert time.monotonic() - started < 1.5  # the layer's 0.5 s, not Redis's 3 s
    after = METRICS.get_sample_value("flylive_channel_layer_errors_total", {"operation": operation})
    assert after == before + 1
    await admin.execute_command("CLIENT", "UNPAUSE")
    with contextlib.suppress(ChannelLayerError):
        await layer.release_channel(channel)


class _IteratorSend:
    """What granian's ASGI send returns: an awaitable whose `__await__` is an iterator with only
    `__next__` (no `send`, no `throw`). It waits while `gate` is pending, then records the text."""

    def __init__(self, text: str, gate: asyncio.Future[None], sent: list[str]) -> None:
        self._text, self._gate, self._sent = text, gate, sent

    def __await__(self) -> _IteratorSend:
        return self

    def __iter__(self) -> _IteratorSend:
        return self

    def __next__(self) -> asyncio.Future[None]:
        if not self._gate.done():
            self._gate._asyncio_future_blocking = True  # as a future's own __await__ yields it
            return self._gate
        self._sent.append(self._text)
        raise StopIteration


class IteratorSendHarness(Harness):
    """A server whose send is an `_IteratorSend`: every send waits for the current `gate`."""

    def __init__(self, services: RealtimeServices, layer: BoundedPubSubChannelLayer) -> None:
        self.gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.gate.set_result(None)
        self.written: list[str] = []
        super().__init__(services, layer)

    def _send(self, message: Any) -> Any:  # an awaitable, not a coroutine
        if message["type"] == "websocket.send":
            return _IteratorSend(message["text"], self.gate, self.written)
        return super()._send(message)


async def test_a_send_awaitable_that_is_a_plain_iterator_delivers_every_frame_in_order(
    services: RealtimeServices, layer: BoundedPubSubChannelLayer, fresh_instance: None,
) -> None:
    socket = IteratorSendHarness(services, layer)

    async def written(count: int) -> bool:
        return len(socket.written) >= count

    await eventually(lambda: written(1))
    assert socket.written[0].startswith("0{")  # the open frame, sent without waiting
    socket.gate = asyncio.get_running_loop().create_future()
    socket.connection.send_frame("first")  # its send waits: the writer will finish it
    socket.connection.send_frame("second")  # queued behind it
    await asyncio.sleep(0.05)
    assert socket.written == socket.written[:1]
    socket.gate.set_result(None)
    await eventually(lambda: written(3))
    assert socket.written[1:] == ["first", "second"]
    assert not socket.connection._closing
    await socket.client_goes_away()
    await cleanups_done(within=5)

"""Engine.IO / Socket.IO over the websocket against the real server: framing, heartbeat,
limits, refusals, ack styles of each kind, concurrency of handlers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from apps.realtime.tests.conftest import SioClient, eventually, http_get
from apps.realtime.tests.rawclient import RawSocket
from apps.users.keys import user_sockets_key
from tests.support.server import LiveServer, make_token, user_claims

Make = Callable[[], SioClient]


@pytest.fixture(scope="module")
def fast_ping_server(flylive_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return flylive_server_factory(
        "daphne", FLYLIVE_TEST_EVENTS="1", SOCKET_PING_INTERVAL_MS="200", SOCKET_PING_TIMEOUT_MS="400"
    )


async def connected_raw(server: LiveServer, user_id: int = 42, **kwargs: object) -> RawSocket:
    raw = await RawSocket.open(server.ws_url, **kwargs)  # type: ignore[arg-type]
    answer = await raw.connect({"token": make_token(user_claims(user_id))})
    assert answer.startswith("40"), answer
    return raw


# --- handshake framing, refusals ---


async def test_open_packet_has_the_engine_io_defaults(any_server: LiveServer) -> None:
    raw = await RawSocket.open(any_server.ws_url)
    try:
        packet = raw.open_packet
        assert isinstance(packet.pop("sid"), str)
        assert packet == {"upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1000000}
    finally:
        await raw.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_long_polling_gets_a_clear_400(any_server: LiveServer, method: str) -> None:
    import aiohttp

    url = any_server.url + "/socket.io/?EIO=4&transport=polling&t=abc"
    async with aiohttp.ClientSession() as session, session.request(method, url, data=b"40") as response:
        assert response.status == 400
        assert response.headers["content-type"] == "application/json"
        body = await response.json()
    assert body["code"] == 0
    assert "websocket" in body["message"]


async def test_unknown_http_routes_get_a_json_404(flylive_server: LiveServer) -> None:
    status, body, _ = await http_get(flylive_server.url + "/nope")
    assert status == 404
    assert json.loads(body) == {
        "message": "Route GET:/nope not found",
        "error": "Not Found",
        "statusCode": 404,
    }


@pytest.mark.parametrize(
    "query", ["EIO=3&transport=websocket", "transport=websocket", "EIO=4&transport=polling"]
)
async def test_websocket_with_another_protocol_is_refused(any_server: LiveServer, query: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{any_server.port}/socket.io/?{query}", open_timeout=5):
            pass
    assert refused.value.response.status_code in (400, 403)
    if refused.value.response.status_code == 400:  # servers with ASGI's denial response say why
        assert "message" in json.loads(refused.value.response.body or b"{}")


async def test_websocket_on_another_path_is_refused(flylive_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus):
        async with connect(
            f"ws://127.0.0.1:{flylive_server.port}/other/?EIO=4&transport=websocket", open_timeout=5
        ):
            pass


# --- heartbeat ---


async def test_server_pings_and_a_ponging_client_stays(fast_ping_server: LiveServer) -> None:
    raw = await connected_raw(fast_ping_server)
    try:
        assert raw.open_packet["pingInterval"] == 200
        assert raw.open_packet["pingTimeout"] == 400
        await raw.quiet_for(1.2)
        assert raw.pings >= 3
        assert await raw.call("debug:echo", {"text": "still here"}) == {
            "success": True,
            "data": {"text": "still here", "data": None},
        }
    finally:
        await raw.close()


async def test_a_peer_that_stops_answering_pings_is_dropped(
    fast_ping_server: LiveServer, live_redis: Redis
) -> None:
    raw = await connected_raw(fast_ping_server, user_id=2001, auto_pong=False)
    assert raw.sid in await live_redis.smembers(user_sockets_key(2001))
    started = time.monotonic()
    await raw.wait_closed(within=5)
    assert time.monotonic() - started < 2.0  # interval + timeout + slack

    async def unregistered() -> bool:
        return not await live_redis.exists(user_sockets_key(2001))

    await eventually(unregistered)


async def test_client_pings_are_answered(flylive_server: LiveServer) -> None:
    raw = await RawSocket.open(flylive_server.ws_url)
    try:
        await raw.send("2probe")
        assert await raw.recv() == "3probe"
        await raw.send("2")
        assert await raw.recv() == "3"
    finally:
        await raw.close()


async def test_pings_continue_while_a_handler_is_slow(fast_ping_server: LiveServer) -> None:
    raw = await connected_raw(fast_ping_server)
    try:
        await raw.emit("debug:sleep", {"ms": 1500}, ack_id=7)
        await raw.quiet_for(1.0)
        assert raw.pings >= 3
        assert await raw.wait_ack(7, within=3) == [{"success": True, "data": {"slept": 1500}}]
    finally:
        await raw.close()


# --- limits and malformed input ---


async def test_max_payload_is_enforced(any_server: LiveServer) -> None:
    raw = await connected_raw(any_server)
    try:
        envelope = '421["debug:echo",{"text":""}]'
        fits = "x" * (1_000_000 - len(envelope))
        await raw.send(f'421["debug:echo",{{"text":"{fits}"}}]')
        answer = await raw.wait_ack(1, within=10)
        assert answer[0]["data"]["text"] == fits
        await raw.send(f'422["debug:echo",{{"text":"{fits}x"}}]')
        code, reason = await raw.wait_closed(within=10)
        if any_server.kind == "daphne":
            assert code == 1000  # daphne allows applications only 1000 or 3000-4999, and no reason
        else:
            assert (code, reason) == (1009, "Max payload size exceeded")  # engine.io's close
    finally:
        await raw.close()


async def test_binary_frames_are_ignored(any_server: LiveServer) -> None:
    raw = await connected_raw(any_server)
    try:
        await raw.send(b"\x04\x00\xff binary")
        await raw.send('451-5["debug:echo",{"_placeholder":true,"num":0}]')
        await raw.send(b"attachment")
        assert await raw.wait_ack(5) == [{"success": False, "error": "Invalid payload"}]
        assert await raw.call("debug:echo", {"text": "ok"}, ack_id=6) == {
            "success": True,
            "data": {"text": "ok", "data": None},
        }
    finally:
        await raw.close()


GARBAGE = [
    "",
    "x",
    "4",
    "42",
    "42{}",
    "42[1]",
    '42["debug:echo"',
    "43",
    "4x",
    "9",
    "bAAAA",
    "40/x,{",
    "42" + "[" * 3000,
    "4" + "9" * 200 + "[]",
    '42["debug:echo",{"text":"\\ud800"}]',
    "6",
    "5",
    "41/other,",
]


async def test_malformed_frames_are_ignored_and_the_socket_keeps_working(any_server: LiveServer) -> None:
    raw = await connected_raw(any_server)
    try:
        for frame in GARBAGE:
            await raw.send(frame)
        assert await raw.call("debug:echo", {"text": "alive"}, ack_id=99) == {
            "success": True,
            "data": {"text": "alive", "data": None},
        }
    finally:
        await raw.close()


async def test_events_before_connect_are_ignored(flylive_server: LiveServer) -> None:
    raw = await RawSocket.open(flylive_server.ws_url)
    try:
        await raw.emit("debug:echo", {"text": "early"}, ack_id=1)
        answer = await raw.connect({"token": make_token()})
        assert answer.startswith("40")
        assert await raw.call("debug:echo", {"text": "now"}, ack_id=2) == {
            "success": True,
            "data": {"text": "now", "data": None},
        }
        assert not any(isinstance(f, str) and f.startswith("431[") for f in raw.received)
    finally:
        await raw.close()


async def test_client_namespace_disconnect_closes_the_socket(
    flylive_server: LiveServer, live_redis: Redis
) -> None:
    raw = await connected_raw(flylive_server, user_id=2002)
    await raw.send("41")
    await raw.wait_closed(within=5)

    async def unregistered() -> bool:
        return not await live_redis.exists(user_sockets_key(2002))

    await eventually(unregistered)


async def test_unknown_events_get_no_answer(flylive_server: LiveServer) -> None:
    raw = await connected_raw(flylive_server)
    try:
        await raw.emit("no:such:event", {"a": 1}, ack_id=1)
        assert await raw.call("debug:echo", {"text": "after"}, ack_id=2) == {
            "success": True,
            "data": {"text": "after", "data": None},
        }
        await raw.quiet_for(0.2)
        assert not any(isinstance(f, str) and f.startswith("431[") for f in raw.received)
    finally:
        await raw.close()


# --- ack styles, end to end ---


async def test_envelope_acks(any_server: LiveServer, sio_client: Make) -> None:
    client = sio_client()
    await client.connect(any_server)
    assert await client.call("debug:echo", {"text": "é😀", "data": {"n": [1, 2.5, None]}, "x": 1}) == {
        "success": True,
        "data": {"text": "é😀", "data": {"n": [1, 2.5, None]}},
    }
    assert await client.call("debug:echo", {"text": 5}) == {"success": False, "error": "Invalid payload"}
    assert await client.call("debug:fail", {"kind": "client"}) == {
        "success": False,
        "error": "Seat is locked",
    }
    assert await client.call("debug:fail", {"kind": "internal"}) == {
        "success": False,
        "error": "Internal server error",
    }
    assert await client.call("debug:join", {"roomId": "r"}) == {"success": True}


@pytest.mark.parametrize("args", [[], [None], ["text"], [7], [[{"text": "a"}]], [{"text": "a"}, "extra"]])
async def test_acked_event_without_a_single_object_payload_is_invalid(
    flylive_server: LiveServer, args: list[object]
) -> None:
    raw = await connected_raw(flylive_server)
    try:
        await raw.emit("debug:echo", *args, ack_id=3)
        assert await raw.wait_ack(3) == [{"success": False, "error": "Invalid payload"}]
    finally:
        await raw.close()


async def test_plain_acks(flylive_server: LiveServer, sio_client: Make) -> None:
    client = sio_client()
    await client.connect(flylive_server)
    assert await client.call("debug:plain", {"value": 3}) == {"value": 3}
    assert await client.call("debug:plain", {"value": "3"}) == {"value": None, "error": "Invalid payload"}
    assert await client.call("debug:failPlain", {"kind": "client"}) == {"error": "Seat is locked"}
    assert await client.call("debug:failPlain", {"kind": "internal"}) == {"error": "Internal server error"}
    assert await client.call("debug:failPlain", "x") == {"error": "Invalid payload"}


async def test_none_style_never_acks(flylive_server: LiveServer) -> None:
    raw = await connected_raw(flylive_server)
    try:
        await raw.emit("debug:silent", {"value": 1}, ack_id=1)
        assert await raw.wait_event("debug:silentDone") == [{"value": 1}]
        await raw.emit("debug:silent", {"value": "bad"}, ack_id=2)
        await raw.emit("debug:silent", ack_id=3)
        assert await raw.call("debug:echo", {"text": "x"}, ack_id=4)
        await raw.quiet_for(0.2)
        assert not [f for f in raw.received if isinstance(f, str) and f.startswith(("431", "432", "433"))]
    finally:
        await raw.close()


async def test_error_event_style(flylive_server: LiveServer, sio_client: Make) -> None:
    client = sio_client()
    await client.connect(flylive_server, token=make_token(user_claims(3001)))
    await client.sio.emit("debug:shout", {"content": ""})
    assert await client.next_event("error") == [
        {
            "message": "Invalid shout",
            "errors": {
                "_errors": [],
                "content": {"_errors": ["String must contain at least 1 character(s)"]},
            },
        }
    ]
    await client.sio.emit("debug:shout", {"content": "oops"})
    assert await client.next_event("error", after=1) == [{"message": "Shout refused"}]
    await client.sio.emit("debug:shout", {"content": "hey"})
    assert await client.next_event("debug:shouted") == [{"content": "hey"}]
    for _ in range(3):
        await client.sio.emit("debug:shout", {"content": "more"})
    # Limit 5 per window, counted before validation: hits 4 and 5 pass, 6 is refused.
    assert await client.next_event("error", after=2) == [{"message": "Too many shouts"}]


# --- concurrency ---


async def test_a_slow_handler_does_not_hold_up_other_events(any_server: LiveServer, sio_client: Make) -> None:
    client = sio_client()
    await client.connect(any_server)
    slow = asyncio.create_task(client.call("debug:sleep", {"ms": 1500}))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    assert await client.call("debug:echo", {"text": "fast"})
    assert time.monotonic() - started < 0.75
    assert not slow.done()
    assert await slow == {"success": True, "data": {"slept": 1500}}


async def test_more_than_sixteen_handlers_in_flight_is_too_many_requests(flylive_server: LiveServer) -> None:
    raw = await connected_raw(flylive_server)
    try:
        for ack_id in range(1, 18):
            await raw.emit("debug:sleep", {"ms": 800}, ack_id=ack_id)
        assert await raw.wait_ack(17, within=2) == [{"success": False, "error": "Too many requests"}]
        for ack_id in range(1, 17):
            assert await raw.wait_ack(ack_id, within=5) == [{"success": True, "data": {"slept": 800}}]
    finally:
        await raw.close()


# --- emit targets within one process ---


async def test_emit_targets_in_one_process(flylive_server: LiveServer, sio_client: Make) -> None:
    actor, member, other = sio_client(), sio_client(), sio_client()
    await actor.connect(flylive_server, token=make_token(user_claims(4001)))
    await member.connect(flylive_server, token=make_token(user_claims(4002)))
    await other.connect(flylive_server, token=make_token(user_claims(4002)))
    for client in (actor, member):
        assert await client.call("debug:join", {"roomId": "room-a"}) == {"success": True}

    await actor.call(
        "debug:emit", {"target": "room", "roomId": "room-a", "event": "t:all", "payload": {"n": 1}}
    )
    assert await member.next_event("t:all") == [{"n": 1}]
    assert await actor.next_event("t:all") == [{"n": 1}]

    await actor.call(
        "debug:emit",
        {"target": "room_except_me", "roomId": "room-a", "event": "t:others", "payload": {"n": 2}},
    )
    assert await member.next_event("t:others") == [{"n": 2}]

    await actor.call("debug:emit", {"target": "socket", "sid": member.sid, "event": "t:direct", "payload": 3})
    assert await member.next_event("t:direct") == [3]

    await actor.call("debug:emit", {"target": "user", "userId": 4002, "event": "t:user", "payload": 4})
    assert await member.next_event("t:user") == [4]
    assert await other.next_event("t:user") == [4]

    await actor.call("debug:emit", {"target": "everyone", "event": "t:everyone", "payload": None})
    for client in (actor, member, other):
        assert await client.next_event("t:everyone") == [None]

    await member.call("debug:leave", {"roomId": "room-a"})
    await actor.call("debug:emit", {"target": "room", "roomId": "room-a", "event": "t:after", "payload": 5})
    assert await actor.next_event("t:after") == [5]
    await asyncio.sleep(0.2)
    assert actor.received("t:others") == []
    assert member.received("t:after") == []
    assert other.received("t:all") == []

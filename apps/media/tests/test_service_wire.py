"""The media events on the wire: a real web process (uvicorn), real Socket.IO clients, and a media
node running in this process on the in-memory library stand-in (no media flows; shapes and routing do)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
import socketio
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import Redis, from_url

from apps.media.service import MediaService
from apps.media.tests.fake_mediasoup import FakeLibrary
from apps.media.tests.service_fixtures import loopback_media_settings
from apps.realtime.codec import event_frame
from apps.realtime.emit import Room, Target, frame_message, room_group
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, make_token, run_server, server_env, user_claims

DB = 8
OPUS = {
    "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
    "encodings": [{"ssrc": 1234}],
}
CAPS = {"codecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}]}
DTLS = {"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": "AB:CD:EF"}]}


@pytest.fixture(scope="module")
def web(redis_server: RedisServer) -> Iterator[LiveServer]:
    with run_server(server_env(redis_server, REDIS_DB=str(DB), LOG_LEVEL="warn"), server="uvicorn") as live:
        yield live


@pytest.fixture
async def media_node(web: LiveServer, redis_server: RedisServer) -> AsyncIterator[MediaService]:
    url = redis_server.url(db=DB)
    layer = RedisPubSubChannelLayer(hosts=[url], prefix="flylive")
    redis: Redis = from_url(url)

    async def emit(target: Target, event: str, payload: Any) -> None:
        assert isinstance(target, Room)
        message = frame_message(event_frame(event, payload), target.exclude_sid)
        await layer.group_send(room_group(target.room_id), message)

    settings = loopback_media_settings(2)
    service = MediaService(
        settings,
        redis=redis,
        channel_layer=layer,
        node_id="wire-node",
        emit=emit,
        create_worker=cast(Any, FakeLibrary().create_worker),
    )
    await service.start()
    yield service
    await service.stop()
    await layer.flush()
    await redis.aclose()


class Client:
    def __init__(self, url: str, user_id: int) -> None:
        self.url = url
        self.user_id = user_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        for name in ("audio:newProducer", "audio:producerClosed", "seat:userMuted", "speaker:active"):
            self.sio.on(name, self._record(name))

    def _record(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.events.append((name, data))

        return record

    async def connect(self) -> Client:
        await self.sio.connect(
            self.url, transports=["websocket"], auth={"token": make_token(user_claims(self.user_id))}
        )
        return self

    async def call(self, event: str, payload: Any) -> Any:
        return await self.sio.call(event, payload, timeout=10)

    async def wait_for(self, name: str) -> Any:
        for _ in range(100):
            found = [data for event, data in self.events if event == name]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {name}: {self.events}")


@pytest.fixture
async def clients(web: LiveServer) -> AsyncIterator[list[Client]]:
    made = [Client(web.url, uid) for uid in (1, 2)]
    for client in made:
        await client.connect()
    yield made
    for client in made:
        await client.sio.disconnect()


async def test_media_events_through_the_web_process(media_node: MediaService, clients: list[Client]) -> None:
    alice, bob = clients
    room = "wire-room"
    join = await alice.call("room:join", {"roomId": room})
    assert join["rtpCapabilities"]["codecs"][0]["mimeType"] == "audio/opus"
    await bob.call("room:join", {"roomId": room})

    created = await alice.call("transport:create", {"type": "producer", "roomId": room})
    assert created["success"] is True
    assert set(created["data"]) == {"id", "iceParameters", "iceCandidates", "dtlsParameters"}
    transport_id = created["data"]["id"]
    assert await alice.call(
        "transport:connect", {"roomId": room, "transportId": transport_id, "dtlsParameters": DTLS}
    ) == {"success": True}
    produced = await alice.call(
        "audio:produce", {"roomId": room, "transportId": transport_id, "kind": "audio", "rtpParameters": OPUS}
    )
    producer_id = produced["data"]["id"]
    assert produced == {"success": True, "data": {"id": producer_id}}
    assert await bob.wait_for("audio:newProducer") == {
        "producerId": producer_id,
        "userId": 1,
        "kind": "audio",
    }

    # A later joiner sees the producer; the listener path answers with the contract's shapes.
    assert (await bob.call("room:join", {"roomId": room}))["existingProducers"] == [
        {"producerId": producer_id, "userId": 1}
    ]
    recv = await bob.call("transport:create", {"type": "consumer", "roomId": room})
    consumed = await bob.call(
        "audio:consume",
        {
            "roomId": room,
            "transportId": recv["data"]["id"],
            "producerId": producer_id,
            "rtpCapabilities": CAPS,
        },
    )
    assert consumed["success"] is True
    assert set(consumed["data"]) == {"id", "producerId", "kind", "rtpParameters"}
    assert consumed["data"]["producerId"] == producer_id
    assert await bob.call("consumer:resume", {"roomId": room, "consumerId": consumed["data"]["id"]}) == {
        "success": True
    }
    assert await bob.call("audio:selfMute", {"roomId": room, "producerId": producer_id}) == {
        "success": False,
        "error": "Not your producer",
    }
    assert await alice.call("audio:selfMute", {"roomId": room, "producerId": producer_id}) == {
        "success": True
    }
    assert await bob.wait_for("seat:userMuted") == {"userId": 1, "isMuted": True, "selfMuted": True}
    assert await alice.call("transport:create", {"type": "wrong", "roomId": room}) == {
        "success": False,
        "error": "Invalid payload",
    }

    # Leaving the room closes the speaker's media, and listeners are told.
    await alice.sio.emit("room:leave", {"roomId": room})
    assert await bob.wait_for("audio:producerClosed") == {"producerId": producer_id, "userId": 1}
    assert media_node.clusters[room].producers == {}


MEDIA_EVENTS = [
    "transport:create",
    "transport:connect",
    "audio:produce",
    "audio:consume",
    "consumer:resume",
    "audio:selfMute",
    "audio:selfUnmute",
]
GARBAGE: list[Any] = [
    None,
    42,
    "text",
    [],
    [1, 2],
    {},
    {"roomId": 5},
    {"roomId": ""},
    {"roomId": "r", "x": {}},
    {"roomId": "wire-fuzz", "transportId": "not-a-uuid", "producerId": None},
    {"roomId": "wire-fuzz", "type": "producer", "dtlsParameters": "x", "rtpParameters": []},
    {"roomId": "wire-fuzz", "kind": "video", "rtpCapabilities": {"codecs": "no"}},
    {"roomId": "wire-fuzz", "consumerId": "00000000-0000-4000-8000-00000000000Z"},
]


async def test_malformed_media_payloads_get_an_error_ack_and_the_socket_lives(
    media_node: MediaService, clients: list[Client]
) -> None:
    alice, _ = clients
    await alice.call("room:join", {"roomId": "wire-fuzz"})
    for event in MEDIA_EVENTS:
        for payload in GARBAGE:
            ack = await alice.call(event, payload)
            # Unknown keys are dropped, so a few of these are valid; the rest answer with contract texts.
            assert ack["success"] is True or ack["error"] in ("Invalid payload", "Room not found"), (
                event,
                ack,
            )
    assert alice.sio.connected
    assert (await alice.call("transport:create", {"type": "consumer", "roomId": "wire-fuzz"}))[
        "success"
    ] is True

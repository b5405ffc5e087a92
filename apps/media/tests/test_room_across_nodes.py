"""A room across media nodes (span_links.py, room_span.py): two media services in this process, each
with a real mediasoup worker, on one Redis and channel layer, talking over the node-to-node RPC.
The gateway is the web side's, so routing is what a web process does."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.media import gateway
from apps.media.gateway import MediaRpcClient, use_media_rpc_client
from apps.media.node_registry import NodeRegistry
from apps.media.service import MediaService
from apps.media.tests.service_fixtures import (  # noqa: F401
    channel_layer,
    loopback_media_settings,
    media_redis,
)
from apps.realtime.emit import Socket, Target
from apps.realtime.event_registry import ClientError

ROOM = "span-room"
OPUS = {
    "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
    "encodings": [{"ssrc": 1234}],
}
CAPS = {"codecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2,
                    "preferredPayloadType": 100}]}
DTLS = {"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": "AB:CD:EF"}]}


@dataclass
class Nodes:
    home: MediaService
    other: MediaService
    sent: list[tuple[Target, str, Any]] = field(default_factory=list)

    def events(self, name: str) -> list[tuple[Target, Any]]:
        return [(target, payload) for target, event, payload in self.sent if event == name]


def _service(node_id: str, worker_bin: str, redis: Redis, layer: Any, emit: Any) -> MediaService:
    base = random.randrange(20000, 40000, 50)
    settings = loopback_media_settings(
        1, worker_bin=worker_bin, rtc_min_port=base, rtc_max_port=base + 40, max_listeners_per_node=2,
        pipe_listen_ip="127.0.0.1", pipe_announced_ip="127.0.0.1", max_active_speakers_forwarded=1)
    return MediaService(settings, redis=redis, channel_layer=layer, node_id=node_id, emit=emit)


@pytest.fixture
async def nodes(media_redis: Redis, channel_layer: Any,  # noqa: F811
                mediasoup_worker_bin: str) -> AsyncIterator[Nodes]:
    sent: list[tuple[Target, str, Any]] = []

    async def emit(target: Target, event: str, payload: Any) -> None:
        sent.append((target, event, payload))

    # Equal load: the room goes to the first id ("node-a"), its home.
    home = _service("node-a", mediasoup_worker_bin, media_redis, channel_layer, emit)
    other = _service("node-b", mediasoup_worker_bin, media_redis, channel_layer, emit)
    await home.start()
    await other.start()
    client = MediaRpcClient(channel_layer, timeout=5.0, registry=NodeRegistry(media_redis))
    use_media_rpc_client(client)
    try:
        yield Nodes(home, other, sent)
    finally:
        await client.aclose()
        await other.stop()
        await home.stop()


async def _speaker(sid: str, uid: int) -> str:
    transport = await gateway.create_transport(ROOM, sid, uid, "producer")
    await gateway.connect_transport(ROOM, sid, transport["id"], DTLS)
    return await gateway.produce(ROOM, sid, uid, transport["id"], OPUS)


async def _listener(sid: str) -> str:
    transport = await gateway.create_transport(ROOM, sid, 99, "consumer")
    assert set(transport) == {"id", "iceParameters", "iceCandidates", "dtlsParameters"}
    await gateway.connect_transport(ROOM, sid, transport["id"], DTLS)
    return str(transport["id"])


async def _eventually(check: Callable[[], bool | Awaitable[bool]], within: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.02)


async def test_listeners_beyond_the_cap_land_on_another_node_fed_through_a_pipe(nodes: Nodes) -> None:
    producer_id = await _speaker("s1", 1)
    transports = {sid: await _listener(sid) for sid in ("l1", "l2", "l3", "l4")}
    cluster = nodes.home.clusters[ROOM]
    span = nodes.other.spans[ROOM]
    assert cluster.listener_count == 2
    assert {t.sid for t in cluster.remote_transports.values()} == {"l3", "l4"}
    assert {e.sid for e in span.transports.values()} == {"l3", "l4"}
    [link] = cluster.stats()["spans"]
    assert link["nodeId"] == "node-b"
    assert link["listeners"] == 2
    assert link["producers"] == 1
    assert link["pipeRemote"] == "{}:{}".format(*span.pipe_address)
    assert span.pipe.tuple["remotePort"] == int(link["pipeLocal"].rsplit(":", 1)[1])

    for sid, transport_id in transports.items():
        consumed = await gateway.consume(ROOM, sid, transport_id, producer_id, CAPS)
        assert consumed["producerId"] == producer_id
        assert await gateway.resume_consumer(ROOM, sid, consumed["id"]) is False
    assert len(span.consumers) == 2  # l3's and l4's consumers live on node-b
    assert len(cluster.consumers) == 2
    # Another socket's transport on node-b is not this socket's.
    with pytest.raises(ClientError, match="Transport not found"):
        await gateway.connect_transport(ROOM, "l1", transports["l3"], DTLS)

    home_info, other_info = nodes.home.node_info().extra, nodes.other.node_info().extra
    assert (home_info["pipes"], home_info["remoteListeners"], home_info["pipeAddress"]) == (1, 2, "127.0.0.1")
    assert (other_info["spans"], other_info["spanListeners"]) == (1, 2)
    assert (await gateway.room_media(ROOM))[1] is not None

    # A listener leaving frees its place on node-b (released there through the home node).
    await gateway.release_socket_media(ROOM, "l3")
    assert {t.sid for t in cluster.remote_transports.values()} == {"l4"}
    assert {e.sid for e in span.transports.values()} == {"l4"}
    assert cluster.stats()["spans"][0]["listeners"] == 1
    # The next listener takes that place.
    await _listener("l5")
    assert {e.sid for e in span.transports.values()} == {"l4", "l5"}

    # A producer that closes is gone on node-b too, announced once (by the home).
    await gateway.release_socket_media(ROOM, "s1")
    assert await _eventually(lambda: not span.producers and not span.consumers)
    assert len(nodes.events("audio:producerClosed")) == 1

    # The room's close takes node-b's part with it.
    await gateway.notify_room_closed(ROOM, "inactivity")
    assert await _eventually(lambda: ROOM not in nodes.other.spans and ROOM not in nodes.home.clusters)


async def test_remote_listeners_follow_the_home_nodes_forwarding(nodes: Nodes) -> None:
    first = await _speaker("s1", 1)
    second = await _speaker("s2", 2)
    for sid in ("l1", "l2"):
        await _listener(sid)
    transport_id = await _listener("l3")  # on node-b
    consumers = {}
    for producer_id in (first, second):
        consumed = await gateway.consume(ROOM, "l3", transport_id, producer_id, CAPS)
        consumers[producer_id] = consumed["id"]
        # Before anyone was dominant, every speaker is forwarded.
        assert await gateway.resume_consumer(ROOM, "l3", consumed["id"]) is False
    span = nodes.other.spans[ROOM]
    cluster = nodes.home.clusters[ROOM]

    def flowing() -> set[str]:
        return {span.consumers[c].source_producer_id for c in consumers.values()
                if not getattr(span.consumers[c].consumer, "paused", True)}

    assert flowing() == {first, second}
    cluster._on_dominant_speaker(first)  # what the observer's `dominantspeaker` does (one forwarded)
    assert await _eventually(lambda: flowing() == {first})
    cluster._on_dominant_speaker(second)
    assert await _eventually(lambda: flowing() == {second})
    assert span.forwarding.forwarded == {second}
    # A new consumer of a speaker outside the forwarded set waits there too.
    await gateway.release_socket_media(ROOM, "l3")
    transport_id = await _listener("l4")
    consumed = await gateway.consume(ROOM, "l4", transport_id, first, CAPS)
    assert await gateway.resume_consumer(ROOM, "l4", consumed["id"]) is True
    assert any(payload["activeSpeakers"] == [2] for _, payload in nodes.events("speaker:active"))


async def test_a_lost_node_takes_only_its_listeners_who_are_told_and_the_room_goes_on(nodes: Nodes) -> None:
    producer_id = await _speaker("s1", 1)
    for sid in ("l1", "l2", "l3", "l4"):
        await _listener(sid)
    cluster = nodes.home.clusters[ROOM]
    assert len(cluster.remote_transports) == 2

    await nodes.other.stop()  # node-b goes (here gracefully: it tells the home at once)
    assert await _eventually(lambda: len(nodes.events("room:closed")) == 2)
    told = {target for target, _ in nodes.events("room:closed")}
    assert told == {Socket("l3"), Socket("l4")}
    assert all(p["reason"] == "worker_died" and p["roomId"] == ROOM for _, p in nodes.events("room:closed"))
    assert cluster.spans == {}
    assert cluster.remote_transports == {}
    # Their old membership epoch is released; the home's listeners and speaker are untouched.
    with pytest.raises(ClientError, match="Room not found"):
        await gateway.create_transport(ROOM, "l3", 99, "consumer")
    assert not cluster.closed
    assert producer_id in cluster.producers
    assert cluster.listener_count == 2
    # A joining listener lands on the live node (the only one: over the cap, rather than refused).
    transport_id = await _listener("l5")
    assert transport_id in cluster.transports
    # l3 joins again (a new epoch) and is served here too.
    assert (await gateway.create_transport(ROOM, "l3", 99, "consumer", epoch=1))["id"] in cluster.transports


@pytest.mark.parametrize(("settings", "reason"), [
    ({"MAX_LISTENERS_PER_NODE": "2"}, "MEDIA_NODE_PIPE_ANNOUNCED_IP: is required when MAX_LISTENERS"),
    ({"MEDIA_NODE_PIPE_ANNOUNCED_IP": "media-2.internal"}, "MEDIA_NODE_PIPE_ANNOUNCED_IP"),
])
def test_spreading_rooms_without_a_pipe_address_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], reason: str
) -> None:
    from flylive.config import AppConfig, ConfigError, load_config
    from tests.support.processes import repo_root

    for name in list(AppConfig.model_fields):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"JWT_SECRET": "s" * 32, "LARAVEL_API_URL": "https://laravel.example",
                        "LARAVEL_INTERNAL_KEY": "k" * 32, **settings}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(repo_root() / "tests")  # no .env file here
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert reason in str(caught.value.code)
    monkeypatch.setenv("MEDIA_NODE_PIPE_ANNOUNCED_IP", "10.0.0.2")
    monkeypatch.setenv("MAX_LISTENERS_PER_NODE", "2")
    config = load_config()
    assert (config.MAX_LISTENERS_PER_NODE, config.MEDIA_NODE_PIPE_ANNOUNCED_IP) == (2, "10.0.0.2")

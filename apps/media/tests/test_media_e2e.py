"""End to end through the whole server: real WebRTC peers (pymediasoup + aiortc, and a Node
mediasoup-client listener) -> uvicorn (Socket.IO) -> channel layer -> runmedia -> mediasoup workers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from apps.media.tests.live_stack import LiveStack, live_stack
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until
from tests.support.processes import RedisServer, repo_root
from tests.support.server import make_token, user_claims

pytestmark = pytest.mark.slow
JS_CLIENT = repo_root() / "tests" / "js_media"


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[LiveStack]:
    with live_stack(redis_server, MEDIASOUP_NUM_WORKERS="1", MAX_ACTIVE_SPEAKERS_FORWARDED="3") as running:
        yield running


@pytest.fixture
async def peers(stack: LiveStack) -> AsyncIterator[list[RoomPeer]]:
    made: list[RoomPeer] = []
    yield made
    await asyncio.gather(*(peer.close() for peer in made))


def _peer(stack: LiveStack, peers: list[RoomPeer], user_id: int, room_id: str) -> RoomPeer:
    peer = RoomPeer(stack.url, user_id, room_id)
    peers.append(peer)
    return peer


async def test_two_listeners_decode_the_speakers_tone(stack: LiveStack, peers: list[RoomPeer]) -> None:
    speaker = _peer(stack, peers, 1, "e2e-basic")
    speaker.track = ToneTrack(440.0)
    joined_at = time.monotonic()
    await speaker.connect_and_join()
    producer_id = await speaker.speak()

    listeners = [_peer(stack, peers, uid, "e2e-basic") for uid in (2, 3)]
    for listener in listeners:
        ack = await listener.connect_and_join()
        assert ack["existingProducers"] == [{"producerId": producer_id, "userId": 1}]
        await listener.listen()
        resume = await listener.consume(producer_id)
        assert resume == {"success": True}

    heard = await wait_until(lambda: all(p.received[producer_id].loud_frames >= 50 for p in listeners), 15)
    assert heard, ([p.received[producer_id] for p in listeners], stack.logs())
    first = listeners[0].received[producer_id].first_loud_at
    assert first is not None
    print(f"join -> first decoded tone: {first - joined_at:.2f} s")


async def test_listeners_get_exactly_the_three_most_recent_speakers(
    stack: LiveStack, peers: list[RoomPeer]
) -> None:
    room = "e2e-top3"
    speakers = [_peer(stack, peers, uid, room) for uid in (11, 12, 13, 14)]
    producer_of: dict[int, str] = {}
    for index, speaker in enumerate(speakers):
        speaker.track = ToneTrack(300.0 + 100 * index, loud=False)
        await speaker.connect_and_join()
        producer_of[speaker.user_id] = await speaker.speak()
    listener = _peer(stack, peers, 20, room)
    ack = await listener.connect_and_join()
    assert {p["producerId"] for p in ack["existingProducers"]} == set(producer_of.values())
    await listener.listen()
    for producer_id in producer_of.values():
        await listener.consume(producer_id)

    # 11, 12, 13 speak in turns; 14 only has its noise floor. The observer names an arbitrary producer
    # (maybe 14) before anyone speaks, then switches within ~0.6 s of each turn: 14 ends outside the top 3.
    for speaker in speakers[:3]:
        assert speaker.track is not None
        speaker.track.loud = True
        await asyncio.sleep(2.5)
        speaker.track.loud = False
    top3 = {11, 12, 13}
    got_top3 = await wait_until(
        lambda: any(set(e["activeSpeakers"]) == top3 for e in listener.events_named("speaker:active")), 10
    )
    assert got_top3, (listener.events_named("speaker:active"), stack.logs())
    event = listener.events_named("speaker:active")[-1]
    assert set(event) == {"userId", "activeSpeakers", "timestamp"}

    await asyncio.sleep(0.5)  # pauses reach the worker
    window_start = time.monotonic()
    await asyncio.sleep(2.0)
    frames = {uid: listener.received[pid].frames_since(window_start) for uid, pid in producer_of.items()}
    assert all(frames[uid] > 40 for uid in top3), frames
    assert frames[14] == 0, frames


async def test_media_acks_and_errors_follow_the_contract(stack: LiveStack, peers: list[RoomPeer]) -> None:
    room = "e2e-errors"
    alice = _peer(stack, peers, 31, room)
    alice.track = ToneTrack()
    await alice.connect_and_join()
    producer_id = await alice.speak()
    bob = _peer(stack, peers, 32, room)
    await bob.connect_and_join()

    # Not a member of that room.
    assert await bob.call("transport:create", {"type": "consumer", "roomId": "elsewhere"}) == {
        "success": False,
        "error": "Room not found",
    }
    # Consume before any transport exists.
    no_transport = await bob.call(
        "audio:consume",
        {
            "roomId": room,
            "transportId": "00000000-0000-4000-8000-000000000000",
            "producerId": producer_id,
            "rtpCapabilities": {"codecs": []},
        },
    )
    assert no_transport == {"success": False, "error": "Transport not found"}
    # Someone else's transport and producer.
    assert alice.send_transport is not None
    foreign = await bob.call(
        "transport:connect",
        {
            "roomId": room,
            "transportId": alice.send_transport.id,
            "dtlsParameters": {
                "role": "client",
                "fingerprints": [{"algorithm": "sha-256", "value": "AB:CD"}],
            },
        },
    )
    assert foreign == {"success": False, "error": "Transport not found"}
    assert await bob.call("audio:selfMute", {"roomId": room, "producerId": producer_id}) == {
        "success": False,
        "error": "Not your producer",
    }
    # Bad media input never reaches the worker.
    created = await bob.call("transport:create", {"type": "producer", "roomId": room})
    transport_id = created["data"]["id"]
    empty = await bob.call(
        "transport:connect",
        {"roomId": room, "transportId": transport_id, "dtlsParameters": {"fingerprints": []}},
    )
    assert empty == {"success": False, "error": "Invalid payload"}
    wrong_codec = await bob.call(
        "audio:produce",
        {
            "roomId": room,
            "transportId": transport_id,
            "kind": "audio",
            "rtpParameters": {
                "codecs": [{"mimeType": "audio/PCMA", "payloadType": 8, "clockRate": 8000}],
                "encodings": [{"ssrc": 1111}],
            },
        },
    )
    assert wrong_codec["success"] is False
    # Two transports per socket per room; leaving the room frees them.
    assert (await bob.call("transport:create", {"type": "consumer", "roomId": room}))["success"] is True
    assert await bob.call("transport:create", {"type": "consumer", "roomId": room}) == {
        "success": False,
        "error": "Transport limit reached",
    }
    await bob.sio.emit("room:leave", {"roomId": room})
    await bob.call("room:join", {"roomId": room})
    assert (await bob.call("transport:create", {"type": "consumer", "roomId": room}))["success"] is True
    # The owner mutes itself.
    assert await alice.call("audio:selfMute", {"roomId": room, "producerId": producer_id}) == {
        "success": True
    }


async def test_js_mediasoup_client_listener_hears_a_python_speaker(
    stack: LiveStack, peers: list[RoomPeer]
) -> None:
    room = "e2e-js"
    speaker = _peer(stack, peers, 41, room)
    speaker.track = ToneTrack(523.0)
    await speaker.connect_and_join()
    producer_id = await speaker.speak()
    node = await asyncio.create_subprocess_exec(
        "node",
        str(JS_CLIENT / "listener.mjs"),
        stack.url,
        make_token(user_claims(42)),
        room,
        "6",
        cwd=JS_CLIENT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(node.communicate(), 60)
    assert node.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["producers"][producer_id]["loudFrames"] > 100, result

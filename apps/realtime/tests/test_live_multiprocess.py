"""Two web processes (daphne and uvicorn) on one Redis: every emit target crosses processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from apps.realtime.tests.conftest import SioClient
from tests.support.server import LiveServer, make_token, user_claims

Make = Callable[[], SioClient]


async def test_room_emit_on_one_process_reaches_members_on_the_other(
    flylive_server: LiveServer, flylive_uvicorn: LiveServer, sio_client: Make
) -> None:
    actor, remote_member, local_member = sio_client(), sio_client(), sio_client()
    await actor.connect(flylive_server, token=make_token(user_claims(5001)))
    await local_member.connect(flylive_server, token=make_token(user_claims(5002)))
    await remote_member.connect(flylive_uvicorn, token=make_token(user_claims(5003)))
    for client in (actor, local_member, remote_member):
        assert await client.call("debug:join", {"roomId": "cross-room"}) == {"success": True}

    await actor.call(
        "debug:emit",
        {
            "target": "room_except_me",
            "roomId": "cross-room",
            "event": "seat:updated",
            "payload": {"seatIndex": 1, "userId": 5001, "isMuted": False},
        },
    )
    expected = [{"seatIndex": 1, "userId": 5001, "isMuted": False}]
    assert await remote_member.next_event("seat:updated") == expected
    assert await local_member.next_event("seat:updated") == expected

    # And back: a broadcast from the uvicorn process reaches the daphne sockets.
    await remote_member.call(
        "debug:emit", {"target": "room", "roomId": "cross-room", "event": "t:back", "payload": 1}
    )
    for client in (actor, local_member, remote_member):
        assert await client.next_event("t:back") == [1]
    await asyncio.sleep(0.2)
    assert actor.received("seat:updated") == []


async def test_socket_and_user_emits_cross_processes(
    flylive_server: LiveServer, flylive_uvicorn: LiveServer, sio_client: Make
) -> None:
    actor, target_a, target_b = sio_client(), sio_client(), sio_client()
    await actor.connect(flylive_server, token=make_token(user_claims(5101)))
    token = make_token(user_claims(5102))
    await target_a.connect(flylive_uvicorn, token=token)  # the same user on both processes
    await target_b.connect(flylive_server, token=token)

    await actor.call(
        "debug:emit",
        {
            "target": "socket",
            "sid": target_a.sid,
            "event": "gift:error",
            "payload": {"transactionId": "t1", "code": "PROCESSING_FAILED", "reason": "x"},
        },
    )
    assert await target_a.next_event("gift:error") == [
        {"transactionId": "t1", "code": "PROCESSING_FAILED", "reason": "x"}
    ]

    await actor.call(
        "debug:emit",
        {"target": "user", "userId": 5102, "event": "seat:invite:received", "payload": {"seatIndex": 2}},
    )
    assert await target_a.next_event("seat:invite:received") == [{"seatIndex": 2}]
    assert await target_b.next_event("seat:invite:received") == [{"seatIndex": 2}]
    await asyncio.sleep(0.2)
    assert target_b.received("gift:error") == []
    assert actor.received("seat:invite:received") == []


async def test_everyone_reaches_both_processes(
    flylive_server: LiveServer, flylive_uvicorn: LiveServer, sio_client: Make
) -> None:
    on_daphne, on_uvicorn = sio_client(), sio_client()
    await on_daphne.connect(flylive_server)
    await on_uvicorn.connect(flylive_uvicorn)
    await on_uvicorn.call("debug:emit", {"target": "everyone", "event": "announcement", "payload": {"n": 1}})
    assert await on_daphne.next_event("announcement") == [{"n": 1}]
    assert await on_uvicorn.next_event("announcement") == [{"n": 1}]

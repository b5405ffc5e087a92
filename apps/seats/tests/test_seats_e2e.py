"""The seat events end to end: the real server process, python-socketio clients, real Redis and
Laravel as a real HTTP stand-in (owner 1, admin 3). Every success with its broadcasts and their
targets, every error text, and the `Invalid payload` answer of every malformed call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer, clean_redis_db
from tests.support.server import LiveServer, run_server, server_env
from tests.support.sio_client import RecordingClient

DB = 12
OWNER, MEMBER, ADMIN, OTHER = 1, 2, 3, 4
SEAT_EVENTS = ("seat:take", "seat:leave", "seat:assign", "seat:remove", "seat:mute", "seat:unmute",
               "seat:lock", "seat:unlock", "seat:invite", "seat:invite:accept", "seat:invite:decline")
OK = {"success": True}


def seated(index: int, user: int) -> dict[str, Any]:
    return {"seatIndex": index, "userId": user, "isMuted": False}


def refused(text: str) -> dict[str, Any]:
    return {"success": False, "error": text}



@pytest.fixture(scope="module")
def live(redis_server: RedisServer, laravel_port: int) -> Iterator[LiveServer]:
    env = server_env(redis_server, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LARAVEL_API_TIMEOUT_MS="1500", SEAT_AUTH_TIMEOUT_MS="1000", SEAT_ROLE_CACHE_TTL_MS="0",
                     SEAT_OWNER_CACHE_TTL_MS="0", DEFAULT_SEAT_COUNT="10")
    with run_server(env, server="uvicorn") as server:
        yield server


@pytest.fixture
async def laravel(laravel_port: int, redis_server: RedisServer) -> AsyncIterator[FakeLaravel]:
    async with clean_redis_db(redis_server, DB), FakeLaravel(port=laravel_port) as fake:
        yield fake


def room_of(laravel: FakeLaravel, room: str, owner: int = OWNER, admins: tuple[int, ...] = (ADMIN,)) -> str:
    laravel.respond(f"/api/v1/internal/rooms/{room}", 200, {"owner_id": owner})
    for user in (MEMBER, ADMIN, OTHER, OWNER):
        role = "admin" if user in admins else "member"
        laravel.respond(f"/api/v1/internal/rooms/{room}/members/{user}/role", 200, {"role": role})
    return room


@pytest.fixture
async def clients(live: LiveServer, laravel: FakeLaravel) -> AsyncIterator[Callable[..., Any]]:
    made: list[RecordingClient] = []

    async def connect(*users: int, room: str | None = None, seat_count: int | None = None
                      ) -> list[RecordingClient]:
        joined = []
        for user in users:
            client = await RecordingClient(user).connect(live)
            made.append(client)
            if room is not None:
                payload: dict[str, Any] = {"roomId": room}
                if seat_count is not None:
                    payload["seatCount"] = seat_count
                assert "rtpCapabilities" in await client.call("room:join", payload)
            joined.append(client)
        for client in joined:
            client.clear()
        return joined

    yield connect
    for client in made:
        await client.close()


async def test_take_move_and_leave(clients: Any, laravel: FakeLaravel) -> None:
    room = room_of(laravel, "s-take")
    owner, member, other = await clients(OWNER, MEMBER, OTHER, room=room)
    assert await member.call("seat:take", {"roomId": room, "seatIndex": 0}) == OK
    assert await owner.wait_for("seat:updated") == [{"seatIndex": 0, "userId": MEMBER, "isMuted": False}]
    assert await other.wait_for("seat:updated") == [{"seatIndex": 0, "userId": MEMBER, "isMuted": False}]

    assert await other.call("seat:take", {"roomId": room, "seatIndex": 0}) == refused("Seat is already taken")
    assert await member.call("seat:take", {"roomId": room, "seatIndex": 2}) == OK  # a move
    assert await owner.wait_for("seat:cleared") == [{"seatIndex": 0}]
    assert (await owner.wait_for("seat:updated", 2))[1] == seated(2, MEMBER)

    assert await member.call("seat:leave", {"roomId": room}) == OK
    assert (await other.wait_for("seat:cleared", 2))[1] == {"seatIndex": 2}
    assert await member.call("seat:leave", {"roomId": room}) == refused("You are not seated")
    assert await member.call("seat:take", {"roomId": room, "seatIndex": 10}) == refused("Invalid seat index")
    assert member.received("seat:updated") == []
    assert member.received("seat:cleared") == []


async def test_the_seat_count_given_by_the_rooms_first_join_is_enforced(clients: Any,
                                                                       laravel: FakeLaravel) -> None:
    room = room_of(laravel, "s-count")
    owner, member = await clients(OWNER, MEMBER, room=room, seat_count=4)
    for event, payload in (("seat:take", {"seatIndex": 4}), ("seat:lock", {"seatIndex": 5}),
                           ("seat:invite", {"seatIndex": 6, "userId": MEMBER})):
        actor = member if event == "seat:take" else owner
        assert await actor.call(event, {"roomId": room, **payload}) == refused("Invalid seat index")
    assert await member.call("seat:take", {"roomId": room, "seatIndex": 3}) == OK


async def test_owner_assigns_and_removes(clients: Any, laravel: FakeLaravel) -> None:
    room = room_of(laravel, "s-assign")
    owner, member, other = await clients(OWNER, MEMBER, OTHER, room=room)
    assign = {"roomId": room, "userId": OTHER, "seatIndex": 1}
    assert await member.call("seat:assign", assign) == refused("Not authorized")
    assert await owner.call("seat:assign", assign) == OK
    assert await other.wait_for("seat:updated") == [{"seatIndex": 1, "userId": OTHER, "isMuted": False}]
    assert owner.received("seat:updated") == []

    assert await owner.call("seat:assign", {**assign, "userId": MEMBER}) == OK  # evicts OTHER
    assert (await other.wait_for("seat:updated", 2))[1] == seated(1, MEMBER)
    assert await owner.call("seat:remove", {"roomId": room, "userId": OTHER}) == refused("You are not seated")
    assert await owner.call("seat:remove", {"roomId": room, "userId": MEMBER}) == OK
    assert await other.wait_for("seat:cleared") == [{"seatIndex": 1}]
    assert await member.call("seat:remove", {"roomId": room, "userId": OWNER}) == refused("Not authorized")
    # The client's ownerId grants nothing.
    [liar] = await clients(OTHER + 10)
    await liar.call("room:join", {"roomId": room, "ownerId": OTHER + 10})
    assert await liar.call("seat:assign", {**assign, "userId": OTHER + 10}) == refused("Not authorized")


async def test_managers_mute_lock_and_unlock(clients: Any, laravel: FakeLaravel) -> None:
    room = room_of(laravel, "s-manage")
    owner, member, admin = await clients(OWNER, MEMBER, ADMIN, room=room)
    assert await admin.call("seat:mute", {"roomId": room, "userId": MEMBER}) == refused("User is not seated")
    await member.call("seat:take", {"roomId": room, "seatIndex": 3})
    assert await admin.call("seat:mute", {"roomId": room, "userId": MEMBER}) == OK
    muted = {"userId": MEMBER, "isMuted": True}
    assert await admin.wait_for("seat:userMuted") == [muted]  # ROOM+: the actor too
    assert await owner.wait_for("seat:userMuted") == [muted]
    assert await member.call("seat:unmute", {"roomId": room, "userId": MEMBER}) == refused("Not authorized")
    assert await owner.call("seat:unmute", {"roomId": room, "userId": MEMBER}) == OK
    assert (await member.wait_for("seat:userMuted", 2))[1] == {"userId": MEMBER, "isMuted": False}

    assert await admin.call("seat:lock", {"roomId": room, "seatIndex": 3}) == OK  # kicks MEMBER
    for client in (owner, admin):
        assert await client.wait_for("seat:cleared") == [{"seatIndex": 3}]
        assert await client.wait_for("seat:locked") == [{"seatIndex": 3, "isLocked": True}]
    lock = {"roomId": room, "seatIndex": 3}
    assert await admin.call("seat:lock", lock) == refused("Seat is already locked")
    assert await member.call("seat:take", {"roomId": room, "seatIndex": 3}) == refused("Seat is locked")
    assert await member.call("seat:unlock", {"roomId": room, "seatIndex": 3}) == refused("Not authorized")
    assert await owner.call("seat:unlock", {"roomId": room, "seatIndex": 3}) == OK
    assert (await admin.wait_for("seat:locked", 2))[1] == {"seatIndex": 3, "isLocked": False}
    assert await owner.call("seat:unlock", {"roomId": room, "seatIndex": 3}) == refused("Seat is not locked")

    join = await (await clients(OTHER))[0].call("room:join", {"roomId": room})
    assert join["seats"] == []
    assert join["lockedSeats"] == []


async def test_invites(clients: Any, laravel: FakeLaravel) -> None:
    room = room_of(laravel, "s-invite")
    owner, member, other = await clients(OWNER, MEMBER, OTHER, room=room)
    invite = {"roomId": room, "userId": MEMBER, "seatIndex": 5}
    assert await owner.call("seat:invite", {**invite, "userId": OWNER}) == refused("Cannot invite yourself")
    assert await other.call("seat:invite", invite) == refused("Not authorized")
    await owner.call("seat:lock", {"roomId": room, "seatIndex": 5})
    assert await owner.call("seat:invite", invite) == OK  # locked seats may be invited to
    pending = {"seatIndex": 5, "isPending": True, "invitedUserId": MEMBER}
    assert await owner.wait_for("seat:invite:pending") == [pending]
    assert await other.wait_for("seat:invite:pending") == [pending]
    [received] = await member.wait_for("seat:invite:received")
    assert set(received) == {"seatIndex", "invitedById", "expiresAt", "targetUserId"}
    assert (received["seatIndex"], received["invitedById"], received["targetUserId"]) == (5, OWNER, MEMBER)
    assert await owner.call("seat:invite", invite) == refused("Invite already pending for this seat")

    assert await other.call("seat:invite:accept", {"roomId": room}) == refused("No pending invite found")
    assert await member.call("seat:invite:accept", {"roomId": room}) == OK  # finds seat 5 by itself
    for client in (member, other):
        done = await client.wait_for("seat:invite:pending", 1 if client is member else 2)
        assert done[-1] == {"seatIndex": 5, "isPending": False}
        assert (await client.wait_for("seat:locked"))[-1] == {"seatIndex": 5, "isLocked": False}
        assert (await client.wait_for("seat:updated"))[-1] == seated(5, MEMBER)
    assert await owner.call("seat:invite", {**invite, "userId": OTHER}) == refused("Seat is already occupied")

    assert await owner.call("seat:invite", {**invite, "userId": OTHER, "seatIndex": 6}) == OK
    assert await other.call("seat:invite:decline", {"roomId": room, "seatIndex": 6}) == OK
    assert (await owner.wait_for("seat:invite:pending", 4))[-1] == {"seatIndex": 6, "isPending": False}
    assert await other.call("seat:invite:decline", {"roomId": room}) == refused("No pending invite found")


async def test_laravel_down_answers_authorization_check_failed(clients: Any, laravel: FakeLaravel) -> None:
    room = "s-down"
    laravel.respond(f"/api/v1/internal/rooms/{room}", 503, {})
    laravel.respond(f"/api/v1/internal/rooms/{room}/members/{OWNER}/role", 200, {}, delay_seconds=3)
    [owner] = await clients(OWNER, room=room)
    assert await owner.call("seat:assign", {"roomId": room, "userId": 2, "seatIndex": 0}) == refused(
        "Authorization check failed")
    assert await owner.call("seat:lock", {"roomId": room, "seatIndex": 0}) == refused(
        "Authorization check failed")


@pytest.mark.parametrize("event", SEAT_EVENTS)
async def test_every_seat_event_answers_bad_calls(clients: Any, laravel: FakeLaravel, event: str) -> None:
    room = room_of(laravel, "s-bad")
    [member] = await clients(MEMBER, room=room)
    invalid = refused("Invalid payload")
    assert await member.call(event) == invalid  # no payload
    assert await member.call(event, "x") == invalid
    assert await member.call(event, [room]) == invalid
    assert await member.call(event, {"roomId": room, "seatIndex": 0, "userId": 9}, 5) == invalid
    assert await member.call(event, {"roomId": "../x", "seatIndex": 0, "userId": 9}) == invalid
    assert await member.call(event, {"roomId": 5, "seatIndex": 0, "userId": 9}) == invalid
    # Not a member of that room.
    assert await member.call(event, {"roomId": "s-elsewhere", "seatIndex": 0, "userId": 9}) == refused(
        "Room not found")

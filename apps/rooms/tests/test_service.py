"""RoomService against real Redis and a real (fake) Laravel HTTP server."""

from __future__ import annotations

import asyncio

import pytest

from apps.media.gateway import MediaUnavailableError
from apps.realtime.codec import dumps, loads
from apps.realtime.emit import Room
from apps.realtime.event_registry import SocketSession
from apps.rooms.keys import activity_key, members_key, producers_key, state_key
from apps.rooms.service import FORCE_LEAVE_MESSAGE_TYPE, ROOM_CLOSED_HOOKS
from apps.rooms.tests.conftest import KEY, Harness, seat
from apps.rooms.tests.fakes import FakeSocket
from apps.rooms.tests.media_double import FIXED_RTP_CAPABILITIES
from apps.seats.keys import invite_key, seats_key
from apps.seats.repository import SeatRepository


async def test_join_ack_lists_others_seats_locks_and_producers(h: Harness) -> None:
    alice, bob = FakeSocket.of("a", 1), FakeSocket.of("b", 2)
    await h.service.join(alice, "r", 15)
    await h.redis.hset(producers_key("r"), "p1", "1")
    await seat(h.redis, "r", 1, 0)
    await seat(h.redis, "r", 9, 5)
    for index in (7, 12):
        await SeatRepository(h.redis, default_seat_count=15).lock("r", index)
    ack = await h.service.join(bob, "r", 3)
    assert set(ack) == {"rtpCapabilities", "participants", "seats", "lockedSeats", "existingProducers"}
    assert ack["rtpCapabilities"] == FIXED_RTP_CAPABILITIES
    assert loads(dumps(ack))["participants"] == [{  # as the socket gets it
        "id": 1, "name": "user1", "signature": "sig", "avatar": "https://a.test/a.png", "frame": "gold",
        "gender": "1", "country": "US", "phone": "+1", "email": "1@x.test", "date_of_birth": "2000-01-01",
        "wealth_xp": "30", "charm_xp": "40", "isSpeaker": True,
    }]
    assert ack["seats"] == [{"seatIndex": 0, "userId": 1, "isMuted": False}]  # seat 5 is beyond seatCount 3
    assert sorted(ack["lockedSeats"]) == [7, 12]  # not filtered by seatCount
    assert ack["existingProducers"] == [{"producerId": "p1", "userId": 1}]
    assert bob.session.room_id == "r"
    assert bob.groups == {"r"}


async def test_join_announces_the_user_to_the_others(h: Harness) -> None:
    alice = FakeSocket.of("a", 1)
    await h.service.join(alice, "r", 15)
    [joined] = h.emits.events("room:userJoined")
    assert joined.target == Room("r", exclude_sid="a")
    assert joined.payload == {"userId": 1, "user": alice.session.user}


async def test_first_join_creates_room_and_reports_to_laravel(h: Harness) -> None:
    await h.service.join(FakeSocket.of("a", 1), "42", 15)
    await h.service.join(FakeSocket.of("b", 2), "42", 15)
    statuses = await h.statuses("42")
    assert statuses[0] == {"is_live": True, "participant_count": 0}
    assert sorted(s["participant_count"] for s in statuses[1:]) == [1, 2]
    assert all(r.headers["X-Internal-Key"] == KEY for r in h.laravel.requests)


async def test_leave_then_disconnect_counts_once(h: Harness) -> None:
    alice, bob = FakeSocket.of("a", 1), FakeSocket.of("b", 2)
    await h.service.join(alice, "r", 15)
    await h.service.join(bob, "r", 15)
    assert await h.service.leave(alice, "r") is True
    await h.service.socket_gone(alice.session)
    assert await h.count("r") == 1
    assert alice.groups == set()
    assert [e.payload for e in h.emits.to_room("r", "room:userLeft")] == [{"userId": 1}]
    assert h.emits.to_room("r", "room:userLeft")[0].target == Room("r", exclude_sid="a")
    assert (await h.statuses("r"))[-1] == {"is_live": True, "participant_count": 1}


async def test_disconnect_leaves_the_room(h: Harness) -> None:
    alice, bob = FakeSocket.of("a", 1), FakeSocket.of("b", 2)
    await h.service.join(alice, "r", 15)
    await h.service.join(bob, "r", 15)
    await seat(h.redis, "r", 2, 4)
    await h.service.socket_gone(bob.session)
    assert await h.count("r") == 1
    assert [e.payload for e in h.emits.to_room("r", "seat:cleared")] == [{"seatIndex": 4}]
    assert [e.payload for e in h.emits.to_room("r", "room:userLeft")] == [{"userId": 2}]
    assert await h.service.repo.get_user_room(2) is None
    assert await h.service.repo.get_user_room(1) == "r"


async def test_double_join_counts_once_and_announces_once(h: Harness) -> None:
    alice = FakeSocket.of("a", 1)
    await h.service.join(alice, "r", 15)
    again = await h.service.join(alice, "r", 15)
    assert await h.count("r") == 1
    assert len(h.emits.events("room:userJoined")) == 1
    assert loads(dumps(again))["participants"] == []


async def test_joining_another_room_leaves_the_first_fully(h: Harness) -> None:
    alice, bob = FakeSocket.of("a", 1), FakeSocket.of("b", 2)
    await h.service.join(alice, "one", 15)
    await h.service.join(bob, "one", 15)
    await seat(h.redis, "one", 1, 2)
    await h.service.join(alice, "two", 15)
    assert (await h.count("one"), await h.count("two")) == (1, 1)
    assert alice.groups == {"two"}
    assert alice.session.room_id == "two"
    assert [e.payload for e in h.emits.to_room("one", "seat:cleared")] == [{"seatIndex": 2}]
    assert [e.payload for e in h.emits.to_room("one", "room:userLeft")] == [{"userId": 1}]
    assert await h.service.repo.get_user_room(1) == "two"
    await h.service.socket_gone(alice.session)
    assert (await h.count("one"), await h.count("two")) == (1, 0)


async def test_leave_of_a_room_not_joined_is_ignored(h: Harness) -> None:
    alice, mallory = FakeSocket.of("a", 1), FakeSocket.of("m", 6)
    await h.service.join(alice, "r", 15)
    await h.service.join(mallory, "elsewhere", 15)
    assert await h.service.leave(mallory, "r") is False
    assert await h.count("r") == 1
    assert h.emits.to_room("r", "room:userLeft") == []


async def test_a_socket_can_rejoin_after_leaving(h: Harness) -> None:
    alice = FakeSocket.of("a", 1)
    await h.service.join(alice, "r", 15)
    await h.service.leave(alice, "r")
    await h.service.join(alice, "r", 15)
    assert await h.count("r") == 1
    assert alice.groups == {"r"}


async def test_two_sockets_of_one_user_count_twice_and_leave_once(h: Harness) -> None:
    phone, tablet, bob = FakeSocket.of("p", 1), FakeSocket.of("t", 1), FakeSocket.of("b", 2)
    await h.service.join(phone, "r", 15)
    await h.service.join(tablet, "r", 15)
    ack = await h.service.join(bob, "r", 15)
    assert [p["id"] for p in loads(dumps(ack))["participants"]] == [1, 1]  # as the socket gets it
    assert await h.count("r") == 3
    await seat(h.redis, "r", 1, 0)
    await h.service.socket_gone(phone.session)
    assert await h.count("r") == 2
    assert h.emits.events("room:userLeft") == []  # the user is still in the room on the tablet
    assert await h.redis.hexists(seats_key("r"), "0")
    await h.service.leave(tablet, "r")
    assert await h.count("r") == 1
    assert [e.payload for e in h.emits.events("room:userLeft")] == [{"userId": 1}]
    assert [e.payload for e in h.emits.events("seat:cleared")] == [{"seatIndex": 0}]


async def test_concurrent_joins_of_50_sockets_count_exactly(h: Harness) -> None:
    sockets = [FakeSocket.of(f"s{i}", i + 1) for i in range(50)]
    await asyncio.gather(*(h.service.join(s, "big", 15) for s in sockets))
    assert await h.count("big") == 50
    assert await h.redis.hlen(members_key("big")) == 50
    statuses = await h.statuses("big")
    assert statuses.count({"is_live": True, "participant_count": 0}) == 1  # one creation
    await asyncio.gather(*(h.service.socket_gone(s.session) for s in sockets[:20]),
                         *(h.service.leave(s, "big") for s in sockets[10:30]))
    assert await h.count("big") == 20


async def test_join_without_media_fails_and_changes_nothing(h: Harness) -> None:
    h.media_down = True
    alice = FakeSocket.of("a", 1)
    with pytest.raises(MediaUnavailableError):
        await h.service.join(alice, "r", 15)
    assert await h.redis.exists(state_key("r")) == 0
    assert alice.session.room_id is None
    assert alice.groups == set()


async def test_slow_laravel_delays_only_the_creating_join(h: Harness) -> None:
    h.laravel.respond("/api/v1/internal/rooms/r/status", delay_seconds=2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    ack = await h.service.join(FakeSocket.of("a", 1), "r", 15)  # creation: awaited, bounded by 1 s
    assert 0.9 < loop.time() - started < 3
    assert ack["rtpCapabilities"] == FIXED_RTP_CAPABILITIES
    started = loop.time()
    await h.service.join(FakeSocket.of("b", 2), "r", 15)  # not a creation: fire-and-forget
    assert loop.time() - started < 0.5


async def test_close_room_tells_sockets_laravel_and_deletes_state(h: Harness) -> None:
    alice, bob = FakeSocket.of("a", 1), FakeSocket.of("b", 2)
    await h.service.join(alice, "r", 15)
    await h.service.join(bob, "r", 15)
    await SeatRepository(h.redis, default_seat_count=15).invite("r", 3, 2, 1, now_ms=1000)
    assert await h.service.close_room("r", "inactivity")
    [closed] = h.emits.events("room:closed")
    assert closed.target == Room("r")
    assert closed.payload["roomId"] == "r"
    assert closed.payload["reason"] == "inactivity"
    assert isinstance(closed.payload["timestamp"], int)
    force_leave = {"type": FORCE_LEAVE_MESSAGE_TYPE, "roomId": "r", "reason": "inactivity"}
    assert h.group_messages == [("r", force_leave)]
    assert h.media_released == [("r", "inactivity")]
    for key in (state_key("r"), members_key("r"), invite_key("r", 3)):
        assert await h.redis.exists(key) == 0, key
    assert [await h.service.repo.get_user_room(uid) for uid in (1, 2)] == [None, None]
    last = (await h.statuses("r"))[-1]
    assert last["is_live"] is False
    assert last["participant_count"] == 0
    assert last["ended_at"].endswith("Z")
    assert not await h.service.close_room("r", "inactivity")  # once only
    assert len(h.emits.events("room:closed")) == 1
    # The consumer's answer to room.force_leave:
    await h.service.forced_out(alice, "r")
    assert alice.session.room_id is None
    assert "r" not in alice.groups
    await h.service.socket_gone(alice.session)  # nothing left to do, nothing emitted
    assert h.emits.events("room:userLeft") == []


async def test_idle_close_spares_a_room_with_members(h: Harness) -> None:
    await h.service.join(FakeSocket.of("a", 1), "r", 15)
    await h.redis.delete(activity_key("r"))
    assert not await h.service.close_idle_room("r")
    assert h.emits.events("room:closed") == []
    assert await h.count("r") == 1


async def test_a_join_during_a_close_lands_in_a_fresh_room(h: Harness) -> None:
    alice, bob = FakeSocket.of("a", 1), FakeSocket.of("b", 2)
    await h.service.join(alice, "r", 15)
    await h.service.drain()
    h.laravel.clear()
    h.laravel.respond("/api/v1/internal/rooms/r/status", delay_seconds=0.3)  # the close waits on it
    claimed = asyncio.Event()

    async def note_claim(room_id: str) -> None:
        claimed.set()

    ROOM_CLOSED_HOOKS.append(note_claim)  # runs right after the claim, before the announcements
    try:
        closing = asyncio.create_task(h.service.close_room("r", "worker_died"))
        await claimed.wait()
        ack = await h.service.join(bob, "r", 15)
    finally:
        ROOM_CLOSED_HOOKS.remove(note_claim)
    assert closing.done()  # the join waited for the whole close
    assert closing.result()
    assert loads(dumps(ack))["participants"] == []  # alice's membership went with the old room
    assert await h.count("r") == 1
    statuses = await h.statuses("r")
    assert [s["is_live"] for s in statuses] == [False, True, True]  # ended, created, bob's count
    assert "ended_at" in statuses[0]
    # The old room's force_leave reaching bob late does not take him out of the new one.
    await h.service.forced_out(bob, "r")
    assert bob.session.room_id == "r"
    assert "r" in bob.groups


async def test_room_closed_hooks_run_once_per_close(h: Harness) -> None:
    seen: list[str] = []

    async def forget_seats(room_id: str) -> None:
        seen.append(room_id)

    ROOM_CLOSED_HOOKS.append(forget_seats)
    try:
        await h.service.join(FakeSocket.of("a", 1), "r", 15)
        await asyncio.gather(*(h.service.close_room("r", "worker_died") for _ in range(2)))
    finally:
        ROOM_CLOSED_HOOKS.remove(forget_seats)
    assert seen == ["r"]


async def test_leave_hooks_run_for_every_way_out(h: Harness) -> None:
    seen: list[tuple[str, str]] = []

    async def hook(session: SocketSession, room_id: str) -> None:
        seen.append((session.sid, room_id))

    h.service.leave_hooks = [hook]
    a, b, c = FakeSocket.of("a", 1), FakeSocket.of("b", 2), FakeSocket.of("c", 3)
    for s in (a, b, c):
        await h.service.join(s, "r", 15)
    await h.service.leave(a, "r")
    await h.service.socket_gone(b.session)
    await h.service.join(c, "other", 15)
    await h.service.close_room("other", "worker_died")
    await h.service.forced_out(c, "other")  # the consumer's answer to the close's force_leave
    assert seen == [("a", "r"), ("b", "r"), ("c", "r"), ("c", "other")]


def test_join_ack_entries_are_embedded_as_stored_unless_the_member_speaks() -> None:
    from apps.rooms.service import participants_json

    quiet, speaker = '{"id":7,"name":"n","isSpeaker":false}', '{"id":9,"name":"s","isSpeaker":false}'
    members = {"a": quiet, "b": speaker, "me": '{"id":1,"isSpeaker":false}', "bad": '{"id":3,"broken',
               "list": "[1,2]"}
    text = participants_json(members, "me", speaking={9, 12.5}).text
    assert text == "[" + quiet + ',{"id":9,"name":"s","isSpeaker":true}]'  # the quiet one byte for byte
    assert participants_json(members, "me", speaking=set()).text == "[" + quiet + "," + speaker + "]"
    assert loads(participants_json({}, "me", speaking={1}).text) == []

"""The room Lua scripts against a real redis-server."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from apps.rooms.repository import RoomRepository, initial_state_json
from apps.rooms.schemas import participant_entry

NOW = 1739300000000


def claims(user_id: int | float, name: str = "u") -> dict[str, object]:
    return {
        "id": user_id, "name": name, "signature": "s", "email": "e", "avatar": "a", "frame": "f",
        "gender": "1", "date_of_birth": "2000-01-01", "phone": "p", "country": "c", "coins": "1",
        "diamonds": "2", "wealth_xp": "3", "charm_xp": "4", "is_blocked": False, "isSpeaker": False,
    }


async def join(repo: RoomRepository, room: str, sid: str, uid: int | float, now: int = NOW):
    return await repo.join(room, sid, uid, participant_entry(claims(uid)), now_ms=now, activity_ttl_ms=30000)


async def raw_state(redis: Redis, room: str) -> bytes:
    raw = await redis.get(f"room:state:{room}")
    assert isinstance(raw, bytes)
    return raw


async def state(redis: Redis, room: str) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(await raw_state(redis, room))
    return parsed


async def test_first_join_creates_state_in_baseline_format(repo: RoomRepository, redis: Redis) -> None:
    result = await join(repo, "42", "sid1", 7)
    assert (result.created, result.new_member, result.participant_count) == (True, True, 1)
    raw = (await raw_state(redis, "42")).decode()
    assert raw == ('{"id":"42","status":"ACTIVE","participantCount":1,"seatCount":15,'
                   f'"createdAt":{NOW},"lastActivityAt":{NOW},"speakers":[]}}')
    assert 86000 < await redis.ttl("room:state:42") <= 86400
    assert await redis.get("room:42:activity") == str(NOW).encode()
    assert 0 < await redis.pttl("room:42:activity") <= 30000
    assert await redis.get("user:7:room") == b"42"
    assert 86000 < await redis.ttl("user:7:room") <= 86400


async def test_join_keeps_an_existing_state_and_its_creation_time(repo: RoomRepository, redis: Redis) -> None:
    await redis.set("room:state:r", initial_state_json("r", 1000), ex=86400)
    result = await join(repo, "r", "sid1", 7, now=2000)
    assert result.created is False
    assert await state(redis, "r") == {"id": "r", "status": "ACTIVE", "participantCount": 1, "seatCount": 15,
                                       "createdAt": 1000, "lastActivityAt": 2000, "speakers": []}


async def test_rejoin_of_the_same_socket_counts_once(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "sid1", 7)
    again = await join(repo, "r", "sid1", 7)
    assert (again.new_member, again.participant_count) == (False, 1)


async def test_leave_then_leave_again_counts_once(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 1)
    await join(repo, "r", "b", 2)
    first = await repo.leave("r", "a", 1, now_ms=NOW)
    second = await repo.leave("r", "a", 1, now_ms=NOW)
    assert (first.was_member, first.participant_count) == (True, 1)
    assert (second.was_member, second.participant_count) == (False, 1)
    assert (await state(redis, "r"))["participantCount"] == 1
    assert await redis.get("user:1:room") is None
    assert await redis.get("user:2:room") == b"r"


async def test_leave_frees_the_users_seat(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 7)
    await redis.hset("room:r:seats", mapping={"3": '{"userId":"7","muted":true}',
                                              "4": '{"muted":false,"userId":"8"}'})
    result = await repo.leave("r", "a", 7, now_ms=NOW)
    assert result.freed_seat == 3
    assert await redis.hgetall("room:r:seats") == {b"4": b'{"muted":false,"userId":"8"}'}


async def test_second_socket_of_a_user_keeps_seat_and_pointer(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 7)
    await join(repo, "r", "b", 7)
    await redis.hset("room:r:seats", "0", '{"userId":"7","muted":false}')
    first = await repo.leave("r", "a", 7, now_ms=NOW)
    assert (first.participant_count, first.freed_seat, first.user_left_room) == (1, None, False)
    assert await redis.get("user:7:room") == b"r"
    last = await repo.leave("r", "b", 7, now_ms=NOW)
    assert (last.participant_count, last.freed_seat, last.user_left_room) == (0, 0, True)
    assert await redis.get("user:7:room") is None


async def test_leave_keeps_a_pointer_to_another_room(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r1", "a", 7)
    await join(repo, "r2", "b", 7)
    await repo.leave("r1", "a", 7, now_ms=NOW)
    assert await redis.get("user:7:room") == b"r2"


async def test_leave_without_state_changes_no_state(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 7)
    await redis.delete("room:state:r")
    result = await repo.leave("r", "a", 7, now_ms=NOW)
    assert (result.was_member, result.state_existed) == (True, False)
    assert await redis.get("room:state:r") is None


async def test_user_ids_are_js_formatted_in_keys(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 42.0)
    assert await redis.get("user:42:room") == b"r"
    assert await redis.hgetall("room:r:member_users") == {b"42": b"1"}


async def test_state_keeps_baseline_bytes_for_ids_with_slashes(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "a/b", "s", 1)
    raw = await raw_state(redis, "a/b")
    assert raw.startswith(b'{"id":"a/b","status":"ACTIVE","participantCount":1,')


async def test_concurrent_joins_count_exactly(repo: RoomRepository, redis: Redis) -> None:
    results = await asyncio.gather(*(join(repo, "r", f"sid{i}", i) for i in range(50)))
    assert sum(r.created for r in results) == 1
    assert (await state(redis, "r"))["participantCount"] == 50
    await asyncio.gather(*(repo.leave("r", f"sid{i}", i, now_ms=NOW) for i in range(0, 50, 2)))
    assert (await state(redis, "r"))["participantCount"] == 25


async def test_snapshot_reads_members_producers_seats_locks(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 1)
    await join(repo, "r", "b", 2)
    await redis.hset("room:r:producers", mapping={"p1": "2"})
    await redis.hset("room:r:seats", mapping={"9": '{"userId":"2","muted":false}',
                                              "1": '{"userId":"1","muted":true}'})
    await redis.sadd("room:r:locked_seats", "14", "3")
    snap = await repo.snapshot("r")
    assert set(snap.members) == {"a", "b"}
    assert snap.members["b"]["id"] == 2
    assert snap.producers == [{"producerId": "p1", "userId": 2}]
    assert snap.seats == [{"seatIndex": 1, "userId": 1, "isMuted": True},
                          {"seatIndex": 9, "userId": 2, "isMuted": False}]
    assert snap.locked_seats == [3, 14]


async def test_close_deletes_room_keys_invites_and_pointers(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r*", "a", 1)
    await join(repo, "r*", "b", 2)
    await join(repo, "other", "c", 2)  # user 2 moved on with another socket: its pointer stays
    await redis.hset("room:r*:seats", "0", '{"userId":"1","muted":false}')
    await redis.sadd("room:r*:locked_seats", "1")
    await redis.set("room:r*:invite:3", "{}", ex=30)
    await redis.set("room:rx:invite:3", "{}", ex=30)  # matched by an unescaped glob
    users = await repo.close("r*")
    assert sorted(users) == ["1", "2"]
    for key in ("room:state:r*", "room:r*:members", "room:r*:member_users", "room:r*:seats",
                "room:r*:locked_seats", "room:r*:activity", "room:r*:invite:3", "user:1:room"):
        assert not await redis.exists(key), key
    assert await redis.get("user:2:room") == b"other"
    assert await redis.exists("room:rx:invite:3")
    assert await repo.active_room_ids() == ["other"]

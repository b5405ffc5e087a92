"""The room Lua scripts against a real redis-server."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from apps.rooms.keys import activity_key, closing_key, member_users_key, members_key, producers_key, state_key
from apps.rooms.repository import RoomRepository, initial_state_json
from apps.rooms.schemas import participant_entry
from apps.users.keys import user_room_key, user_sockets_key

NOW = 1739300000000


def claims(user_id: int | float, name: str = "u") -> dict[str, object]:
    return {
        "id": user_id, "name": name, "signature": "s", "email": "e", "avatar": "a", "frame": "f",
        "gender": "1", "date_of_birth": "2000-01-01", "phone": "p", "country": "c", "coins": "1",
        "diamonds": "2", "wealth_xp": "3", "charm_xp": "4", "is_blocked": False, "isSpeaker": False,
    }


async def join(repo: RoomRepository, room: str, sid: str, uid: int | float, now: int = NOW):
    entry = participant_entry(claims(uid))
    joined, _ = await repo.join(room, sid, uid, entry, now_ms=now, activity_ttl_ms=30000)
    return joined


async def raw_state(redis: Redis, room: str) -> bytes:
    raw = await redis.get(state_key(room))
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
    assert 86000 < await redis.ttl(state_key("42")) <= 86400
    assert await redis.get(activity_key("42")) == str(NOW).encode()
    assert 0 < await redis.pttl(activity_key("42")) <= 30000
    assert await redis.get(user_room_key(7)) == b"42"
    assert 86000 < await redis.ttl(user_room_key(7)) <= 86400


async def test_join_keeps_an_existing_state_and_its_creation_time(repo: RoomRepository, redis: Redis) -> None:
    await redis.set(state_key("r"), initial_state_json("r", 1000), ex=86400)
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
    assert await repo.get_user_room(1) is None  # its pointer stays, naming a room it left
    assert await repo.get_user_room(2) == "r"


async def test_second_socket_of_a_user_keeps_seat_and_pointer(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 7)
    await join(repo, "r", "b", 7)
    first = await repo.leave("r", "a", 7, now_ms=NOW)
    assert (first.participant_count, first.user_left_room) == (1, False)
    assert await repo.get_user_room(7) == "r"
    last = await repo.leave("r", "b", 7, now_ms=NOW)
    assert (last.participant_count, last.user_left_room) == (0, True)
    assert await repo.get_user_room(7) is None


async def test_leave_keeps_a_pointer_to_another_room(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r1", "a", 7)
    await join(repo, "r2", "b", 7)
    await repo.leave("r1", "a", 7, now_ms=NOW)
    assert await redis.get(user_room_key(7)) == b"r2"
    assert await repo.get_user_room(7) == "r2"


async def test_leave_without_state_changes_no_state(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 7)
    await redis.delete(state_key("r"))
    result = await repo.leave("r", "a", 7, now_ms=NOW)
    assert (result.was_member, result.state_existed) == (True, False)
    assert await redis.get(state_key("r")) is None


async def test_user_ids_are_js_formatted_in_keys(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 42.0)
    assert await redis.get(user_room_key("42")) == b"r"  # the id as text, as JavaScript prints 42.0
    assert await redis.hgetall(member_users_key("r")) == {b"42": b"1"}


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


async def test_snapshot_reads_members_and_producers(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 1)
    await join(repo, "r", "b", 2)
    await redis.hset(producers_key("r"), mapping={"p1": "2"})
    snap = await repo.snapshot("r")
    assert set(snap.members) == {"a", "b"}
    assert snap.members["b"]["id"] == 2
    assert snap.producers == [{"producerId": "p1", "userId": 2}]


async def close(repo: RoomRepository, room: str, *, only_if_idle: bool = False) -> list[str] | None:
    closed = await repo.claim_close(room, only_if_idle=only_if_idle, closing_ttl_ms=5000)
    if closed is None:
        return None
    await repo.finish_close(closed)
    return closed.users


async def test_close_deletes_room_keys_and_pointers(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r*", "a", 1)
    await join(repo, "r*", "b", 2)
    await join(repo, "other", "c", 2)  # user 2 moved on with another socket: its pointer stays
    assert sorted(await repo.active_room_ids()) == ["other", "r*"]
    users = await close(repo, "r*")
    assert users is not None
    assert sorted(users) == ["1", "2"]
    for key in (state_key("r*"), members_key("r*"), member_users_key("r*"), activity_key("r*"),
                closing_key("r*")):
        assert not await redis.exists(key), key
    assert await repo.get_user_room(1) is None  # its pointer names a closed room: not believed
    assert await repo.get_user_room(2) == "other"
    assert await repo.active_room_ids() == ["other"]
    assert await repo.active_room_count() == 1


async def test_a_room_is_closed_by_exactly_one_caller(repo: RoomRepository) -> None:
    await join(repo, "r", "a", 1)
    claims_ = await asyncio.gather(*(repo.claim_close("r", only_if_idle=False, closing_ttl_ms=5000)
                                     for _ in range(10)))
    won = [c for c in claims_ if c is not None]
    assert len(won) == 1
    await repo.finish_close(won[0])
    assert await close(repo, "r") is None  # already closed


async def test_idle_close_spares_rooms_with_members_or_activity(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "busy", "a", 1)
    await join(repo, "recent", "b", 2)
    await repo.leave("recent", "b", 2, now_ms=NOW)  # empty, but its join's activity mark is fresh
    assert await close(repo, "busy", only_if_idle=True) is None
    assert await close(repo, "recent", only_if_idle=True) is None
    await redis.delete(activity_key("recent"))
    assert await close(repo, "recent", only_if_idle=True) == []
    assert await repo.active_room_ids() == ["busy"]


async def test_a_room_whose_state_expired_leaves_the_index_without_a_close(
    repo: RoomRepository, redis: Redis
) -> None:
    await join(repo, "r", "a", 1)
    await repo.leave("r", "a", 1, now_ms=NOW)
    await redis.delete(state_key("r"), activity_key("r"))  # as after its 24 h TTL
    [(room_id, score)] = await repo.active_rooms()
    assert (room_id, score) == ("r", NOW)
    # Nothing is left to close; the stale entry goes when the caller passes the score it read.
    assert await repo.claim_close("r", only_if_idle=True, closing_ttl_ms=5000) is None
    assert await repo.active_room_ids() == ["r"]
    assert await repo.claim_close("r", only_if_idle=True, closing_ttl_ms=5000, index_score=score - 1) is None
    assert await repo.active_room_ids() == ["r"]  # rewritten since it was read: kept
    assert await repo.claim_close("r", only_if_idle=True, closing_ttl_ms=5000, index_score=score) is None
    assert await repo.active_room_ids() == []
    assert not await redis.exists(closing_key("r"))


async def test_join_waits_out_a_running_close(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 1)
    closed = await repo.claim_close("r", only_if_idle=False, closing_ttl_ms=5000)
    assert closed is not None
    refused = await join(repo, "r", "b", 2)
    assert refused.closing
    assert not await redis.exists(state_key("r"), members_key("r"))
    # The refused attempt's pointer is written anyway (another slot, same round trip), but
    # not believed: the user is no member of the room.
    assert await redis.get(user_room_key(2)) == b"r"
    assert await repo.get_user_room(2) is None
    await repo.finish_close(closed)
    joined = await join(repo, "r", "b", 2)
    assert (joined.closing, joined.created, joined.participant_count) == (False, True, 1)


async def test_read_activity_reports_marks_and_member_counts(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "a", "s1", 1)
    await join(repo, "a", "s2", 2)
    await join(repo, "b", "s3", 3)
    await repo.leave("b", "s3", 3, now_ms=NOW)
    await redis.delete(activity_key("b"))
    rooms = await repo.read_activity(["a", "b", "gone"])
    assert [(r.room_id, r.has_activity, r.member_count, r.idle) for r in rooms] == [
        ("a", True, 2, False), ("b", False, 0, True), ("gone", False, 0, True)]


async def test_keep_alive_refreshes_a_long_lived_rooms_records(repo: RoomRepository, redis: Redis) -> None:
    await join(repo, "r", "a", 1)
    await redis.sadd(user_sockets_key(1), "a")
    assert await repo.keep_alive(["r"]) == 0  # fresh: nothing to do
    records = (state_key("r"), members_key("r"), member_users_key("r"), user_room_key(1), user_sockets_key(1))
    for key in records:
        await redis.expire(key, 100)  # as a day later
    assert await repo.keep_alive(["r", "no-such-room"]) == 1
    for key in records:
        assert await redis.ttl(key) > 86000, key


async def test_join_numbers_new_members_and_reads_the_members_atomically(repo: RoomRepository) -> None:
    first = await join(repo, "seq", "sid1", 1)
    second = await join(repo, "seq", "sid2", 2)
    again = await join(repo, "seq", "sid1", 1)
    assert (first.join_seq, second.join_seq, again.join_seq) == (1, 2, 0)  # a re-join is not new
    assert list(first.snapshot.members) == ["sid1"]
    assert sorted(second.snapshot.members) == ["sid1", "sid2"]
    assert second.snapshot.members["sid1"]["id"] == 1


async def test_close_resets_the_join_numbering(repo: RoomRepository) -> None:
    await join(repo, "seq2", "sid1", 1)
    closed = await repo.claim_close("seq2", only_if_idle=False, closing_ttl_ms=5000)
    assert closed is not None
    await repo.finish_close(closed)
    assert (await join(repo, "seq2", "sid3", 3)).join_seq == 1

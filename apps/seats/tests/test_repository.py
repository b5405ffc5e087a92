"""The seat scripts against a real redis-server: every outcome and error text, the indexes
they keep, reloading after SCRIPT FLUSH, and random interleavings that never seat a user twice."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from apps.seats import keys
from apps.seats.repository import INVITE_TTL_MS, DueInvite, ExpiredInvite, SeatError, SeatRepository
from flylive.redis_values import as_text
from tests.support.processes import RedisServer, clean_redis_db

ROOM = "r1"


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    async with clean_redis_db(redis_server, 11) as client:
        yield client


@pytest.fixture
def repo(redis: Redis) -> SeatRepository:
    return SeatRepository(redis, default_seat_count=15)


async def refused(text: str, work: object) -> None:
    with pytest.raises(SeatError) as caught:
        await work  # type: ignore[misc]
    assert caught.value.message == text


async def seat_map(redis: Redis, room: str = ROOM) -> dict[int, str]:
    raw = await redis.hgetall(keys.seats_key(room))
    return {int(k): json.loads(v)["userId"] for k, v in raw.items()}


async def test_take_writes_the_contract_shape_and_a_reverse_index(repo: SeatRepository, redis: Redis) -> None:
    moved = await repo.take(ROOM, 7, 3)
    assert (moved.index, moved.previous) == (3, -1)
    entry = await redis.hget(keys.seats_key(ROOM), "3")
    assert entry is not None
    assert json.loads(entry) == {"userId": "7", "muted": False}
    assert await redis.hget(keys.seat_of_key(ROOM), "7") == b"3"
    seats = await repo.room_seats(ROOM)
    assert seats.seats == [{"seatIndex": 3, "userId": 7, "isMuted": False}]


async def test_take_moves_the_user_and_reports_the_seat_left(repo: SeatRepository, redis: Redis) -> None:
    await repo.take(ROOM, 7, 3)
    moved = await repo.take(ROOM, 7, 5)
    assert moved.previous == 3
    assert await seat_map(redis) == {5: "7"}


async def test_take_refusals(repo: SeatRepository) -> None:
    await repo.take(ROOM, 7, 1)
    await refused("Seat is already taken", repo.take(ROOM, 8, 1))
    await refused("Seat is already taken", repo.take(ROOM, 7, 1))
    await repo.lock(ROOM, 2)
    await refused("Seat is locked", repo.take(ROOM, 8, 2))
    await refused("Invalid seat index", repo.take(ROOM, 8, 15))


async def test_the_rooms_seat_count_bounds_every_operation(repo: SeatRepository) -> None:
    await repo.open_room(ROOM, 4)
    for work in (repo.take(ROOM, 1, 4), repo.assign(ROOM, 1, 4), repo.lock(ROOM, 4), repo.unlock(ROOM, 4),
                 repo.invite(ROOM, 4, 2, 1, now_ms=1)):
        await refused("Invalid seat index", work)
    assert (await repo.take(ROOM, 1, 3)).index == 3


async def test_leave(repo: SeatRepository, redis: Redis) -> None:
    await refused("You are not seated", repo.leave(ROOM, 7))
    await repo.take(ROOM, 7, 4)
    assert await repo.leave(ROOM, 7) == 4
    assert await seat_map(redis) == {}
    assert await redis.hgetall(keys.seat_of_key(ROOM)) == {}


async def test_assign_evicts_and_moves(repo: SeatRepository, redis: Redis) -> None:
    await repo.take(ROOM, 7, 1)
    await repo.take(ROOM, 8, 2)
    assigned = await repo.assign(ROOM, 8, 1)
    assert (assigned.previous, assigned.evicted) == (2, 7)
    assert await seat_map(redis) == {1: "8"}
    await refused("You are not seated", repo.leave(ROOM, 7))  # the evicted user's index went too
    again = await repo.assign(ROOM, 8, 1)
    assert (again.previous, again.evicted) == (-1, None)
    await repo.lock(ROOM, 3)
    await refused("Seat is locked", repo.assign(ROOM, 8, 3))


async def test_mute_keeps_the_seat(repo: SeatRepository) -> None:
    await refused("User is not seated", repo.set_muted(ROOM, 7, True))
    await repo.take(ROOM, 7, 6)
    assert await repo.set_muted(ROOM, 7, True) == 6
    assert (await repo.room_seats(ROOM)).seats == [{"seatIndex": 6, "userId": 7, "isMuted": True}]
    await repo.set_muted(ROOM, 7, False)
    assert (await repo.room_seats(ROOM)).seats[0]["isMuted"] is False


async def test_lock_kicks_and_unlock(repo: SeatRepository, redis: Redis) -> None:
    await repo.take(ROOM, 7, 2)
    assert await repo.lock(ROOM, 2) == 7
    await refused("Seat is already locked", repo.lock(ROOM, 2))
    assert await repo.lock(ROOM, 9) is None
    assert (await repo.room_seats(ROOM)).locked == [2, 9]
    assert await redis.hgetall(keys.seat_of_key(ROOM)) == {}
    await repo.unlock(ROOM, 2)
    await refused("Seat is not locked", repo.unlock(ROOM, 2))


async def test_invite_accept_unlocks_takes_and_consumes(repo: SeatRepository, redis: Redis) -> None:
    await repo.take(ROOM, 9, 0)
    await repo.lock(ROOM, 5)
    expires = await repo.invite(ROOM, 5, 9, 1, now_ms=1000)
    assert expires == 1000 + INVITE_TTL_MS
    raw = await redis.get(keys.invite_key(ROOM, 5))
    assert raw is not None
    assert json.loads(raw) == {"targetUserId": "9", "invitedBy": "1", "seatIndex": 5, "createdAt": 1000}
    assert 29_000 < await redis.pttl(keys.invite_key(ROOM, 5)) <= 30_000
    await refused("Invite already pending for this seat", repo.invite(ROOM, 5, 10, 1, now_ms=1000))
    await refused("Seat is already occupied", repo.invite(ROOM, 0, 10, 1, now_ms=1000))
    assert await repo.pending_invite_seats(ROOM, 9) == [5]

    await refused("No pending invite found", repo.answer_invite(ROOM, 10, 5, accept=True))
    accepted = await repo.answer_invite(ROOM, 9, 5, accept=True)
    assert (accepted.previous, accepted.unlocked) == (0, True)
    assert await seat_map(redis) == {5: "9"}
    assert (await repo.room_seats(ROOM)).locked == []
    assert await repo.pending_invite_seats(ROOM, 9) == []
    assert await redis.exists(keys.invite_key(ROOM, 5)) == 0
    assert await redis.zcard(keys.INVITE_EXPIRY_KEY) == 0
    assert await redis.smembers(keys.room_invites_index_key(ROOM)) == set()


async def test_an_accept_that_cannot_sit_leaves_the_invite_pending(repo: SeatRepository) -> None:
    await repo.invite(ROOM, 4, 9, 1, now_ms=1000)
    await repo.take(ROOM, 8, 4)
    await refused("Seat is already taken", repo.answer_invite(ROOM, 9, 4, accept=True))
    assert await repo.pending_invite_seats(ROOM, 9) == [4]
    await repo.answer_invite(ROOM, 9, 4, accept=False)
    assert await repo.pending_invite_seats(ROOM, 9) == []


async def test_several_invites_of_one_user_are_indexed(repo: SeatRepository) -> None:
    for seat in (7, 2, 11):
        await repo.invite(ROOM, seat, 9, 1, now_ms=1000)
    assert await repo.pending_invite_seats(ROOM, 9) == [2, 7, 11]
    await repo.answer_invite(ROOM, 9, 7, accept=False)
    assert await repo.pending_invite_seats(ROOM, 9) == [2, 11]


async def test_expiry_is_taken_by_exactly_one_caller(repo: SeatRepository, redis: Redis) -> None:
    await repo.invite(ROOM, 3, 9, 1, now_ms=1000)
    await repo.invite("r2", 1, 8, 1, now_ms=5000)
    assert await repo.due_invites(1000 + INVITE_TTL_MS - 1, 10) == []
    due_at = 1000 + INVITE_TTL_MS
    due = await repo.due_invites(due_at, 10)
    assert due == [DueInvite(ROOM, 3, due_at)]
    results = await asyncio.gather(*(repo.expire_invite(due[0], now_ms=due_at) for _ in range(5)))
    assert sorted(results, key=str) == [ExpiredInvite(True, 9), *[ExpiredInvite(True, None)] * 4]
    assert await repo.pending_invite_seats(ROOM, 9) == []
    assert await redis.exists(keys.invite_key(ROOM, 3)) == 0
    assert await repo.due_invites(10**13, 10) == [DueInvite("r2", 1, 5000 + INVITE_TTL_MS)]


async def test_forget_room_removes_seats_locks_and_invites(repo: SeatRepository, redis: Redis) -> None:
    await repo.open_room(ROOM, 10)
    await repo.take(ROOM, 7, 1)
    await repo.lock(ROOM, 2)
    await repo.invite(ROOM, 3, 8, 7, now_ms=1000)
    await repo.invite("other", 3, 8, 7, now_ms=1000)
    await repo.forget_room(ROOM)
    assert [key for key in map(as_text, await redis.keys()) if ROOM in key] == []  # no key of the room
    # The closed room's invite keeps its expiry entry until due: then it settles, told to nobody.
    due_at = 1000 + INVITE_TTL_MS
    stale, other = DueInvite(ROOM, 3, due_at), DueInvite("other", 3, due_at)
    assert sorted(await repo.due_invites(due_at, 10), key=str) == [other, stale]
    assert await repo.expire_invite(stale, now_ms=due_at) == ExpiredInvite(True, None)
    assert await repo.due_invites(10**13, 10) == [other]


async def test_scripts_survive_a_script_flush(repo: SeatRepository, redis: Redis) -> None:
    await repo.take(ROOM, 7, 1)
    await redis.script_flush()
    assert (await repo.take(ROOM, 7, 2)).previous == 1


async def test_random_interleavings_never_seat_a_user_twice(repo: SeatRepository, redis: Redis) -> None:
    rng = random.Random(7)
    users = list(range(1, 13))

    async def one_op() -> None:
        user, seat = rng.choice(users), rng.randrange(4)
        op = rng.choice(["take", "take", "assign", "leave", "lock", "unlock", "invite", "accept"])
        try:
            if op == "take":
                await repo.take(ROOM, user, seat)
            elif op == "assign":
                await repo.assign(ROOM, user, seat)
            elif op == "leave":
                await repo.leave(ROOM, user)
            elif op == "lock":
                await repo.lock(ROOM, seat)
            elif op == "unlock":
                await repo.unlock(ROOM, seat)
            elif op == "invite":
                await repo.invite(ROOM, seat, user, 99, now_ms=1000)
            else:
                await repo.answer_invite(ROOM, user, seat, accept=True)
        except SeatError:
            pass

    for _ in range(20):
        await asyncio.gather(*(one_op() for _ in range(50)))
        seats = await seat_map(redis)
        assert len(set(seats.values())) == len(seats), seats  # no user on two seats
        reverse = {as_text(k): int(v) for k, v in (await redis.hgetall(keys.seat_of_key(ROOM))).items()}
        assert reverse == {user: seat for seat, user in seats.items()}
        assert not set(seats) & set((await repo.room_seats(ROOM)).locked)


async def test_a_new_session_starts_with_empty_seats(repo: SeatRepository, redis: Redis) -> None:
    await repo.take(ROOM, 7, 1)  # e.g. written by a late request after the room closed
    await repo.lock(ROOM, 2)
    await repo.invite(ROOM, 3, 8, 7, now_ms=1000)
    await repo.open_room(ROOM, 6)
    assert (await repo.room_seats(ROOM)).seats == []
    assert (await repo.room_seats(ROOM)).locked == []
    assert await repo.pending_invite_seats(ROOM, 8) == []
    await refused("Invalid seat index", repo.take(ROOM, 7, 6))

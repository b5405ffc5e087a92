"""Many clients racing for the same seats through two web processes on one Redis.

- Self-moves only (take, move, leave; what the load generator does): each client's belief,
  built from its own acks alone, must equal the final state exactly.
- Everything at once (take, move, leave, owner assign, admin lock/unlock): whatever the
  interleaving, no user holds two seats, no locked seat is occupied, the reverse index
  agrees with the seats, and a fresh join lists what Redis holds.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.seats.keys import locked_seats_key, seat_of_key, seats_key
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer, clean_redis_db
from tests.support.server import LiveServer, run_server, server_env
from tests.support.sio_client import RecordingClient

DB = 13
ROOMS, PER_ROOM, SEATS, OPS = 3, 8, 3, 40
OWNER = 1



@pytest.fixture(scope="module")
def servers(redis_server: RedisServer, laravel_port: int) -> Iterator[list[LiveServer]]:
    env = server_env(redis_server, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LOG_LEVEL="warn")
    with run_server(env, server="uvicorn") as first, run_server(env, server="uvicorn") as second:
        yield [first, second]


@pytest.fixture
async def redis(redis_server: RedisServer, laravel_port: int) -> AsyncIterator[Redis]:
    async with clean_redis_db(redis_server, DB, decode_responses=True) as client, \
            FakeLaravel(port=laravel_port) as laravel:
        for room in range(ROOMS):
            laravel.respond(f"/api/v1/internal/rooms/race-{room}", 200, {"owner_id": OWNER})
            laravel.respond(f"/api/v1/internal/rooms/race-{room}/members/{OWNER}/role", 200,
                            {"role": "admin"})
        yield client


async def connect_rooms(servers: list[LiveServer], with_owner: bool) -> list[RecordingClient]:
    clients = []
    for room in range(ROOMS):
        users = [OWNER] if with_owner else []
        users += [100 * (room + 1) + i for i in range(PER_ROOM)]
        for i, user in enumerate(users):
            client = await RecordingClient(user).connect(servers[i % 2])  # alternate processes
            client.room = f"race-{room}"  # type: ignore[attr-defined]
            assert "rtpCapabilities" in await client.call("room:join", {"roomId": client.room})  # type: ignore[attr-defined]
            clients.append(client)
    return clients


async def final_seats(redis: Redis, room: str) -> dict[int, int]:
    raw = await redis.hgetall(seats_key(room))
    return {int(index): int(json.loads(entry)["userId"]) for index, entry in raw.items()}


async def test_acks_alone_predict_the_final_seats(servers: list[LiveServer], redis: Redis) -> None:
    clients = await connect_rooms(servers, with_owner=False)
    rng = random.Random(1)
    belief: dict[int, int | None] = {c.user_id: None for c in clients}

    async def race(client: RecordingClient) -> None:
        room = client.room  # type: ignore[attr-defined]
        for _ in range(OPS):
            seat = belief[client.user_id]
            if seat is None or rng.random() < 0.3:
                target = rng.randrange(SEATS)
                ack = await client.call("seat:take", {"roomId": room, "seatIndex": target})
                if ack == {"success": True}:
                    belief[client.user_id] = target
                else:
                    assert ack["error"] in ("Seat is already taken",), ack
            else:
                ack = await client.call("seat:leave", {"roomId": room})
                assert ack == {"success": True}, ack
                belief[client.user_id] = None

    try:
        await asyncio.gather(*(race(c) for c in clients))
        for room in range(ROOMS):
            members = {c.user_id for c in clients if c.room == f"race-{room}"}  # type: ignore[attr-defined]
            seats = await final_seats(redis, f"race-{room}")
            expected = {belief[u]: u for u in members if belief[u] is not None}
            assert seats == expected
            observer = await RecordingClient(9000 + room).connect(servers[room % 2])
            ack = await observer.call("room:join", {"roomId": f"race-{room}"})
            assert {s["seatIndex"]: s["userId"] for s in ack["seats"]} == seats
            await observer.close()
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_mixed_seat_operations_keep_the_invariants(servers: list[LiveServer], redis: Redis) -> None:
    clients = await connect_rooms(servers, with_owner=True)
    rng = random.Random(2)
    outcomes: dict[str, int] = {}

    async def race(client: RecordingClient) -> None:
        room = client.room  # type: ignore[attr-defined]
        for _ in range(OPS):
            seat = rng.randrange(SEATS)
            if client.user_id == OWNER:
                event = rng.choice(["seat:assign", "seat:lock", "seat:unlock"])
                payload: dict[str, Any] = {"roomId": room, "seatIndex": seat,
                                           "userId": 100 * (int(room[-1]) + 1) + rng.randrange(PER_ROOM)}
            else:
                event = rng.choice(["seat:take", "seat:take", "seat:leave"])
                payload = {"roomId": room, "seatIndex": seat}
            ack = await client.call(event, payload)
            key = f"{event}:{'ok' if ack.get('success') else ack.get('error')}"
            outcomes[key] = outcomes.get(key, 0) + 1

    try:
        await asyncio.gather(*(race(c) for c in clients))
        assert outcomes.get("seat:assign:ok", 0) > 0
        assert outcomes.get("seat:lock:ok", 0) > 0
        assert not [k for k in outcomes if "Internal server error" in k or "Invalid payload" in k], outcomes
        for room in range(ROOMS):
            name = f"race-{room}"
            seats = await final_seats(redis, name)
            assert len(set(seats.values())) == len(seats)
            reverse = {int(u): int(s) for u, s in (await redis.hgetall(seat_of_key(name))).items()}
            assert reverse == {user: seat for seat, user in seats.items()}
            locked = {int(i) for i in await redis.smembers(locked_seats_key(name))}
            assert not locked & set(seats)
            observer = await RecordingClient(9100 + room).connect(servers[1])
            ack = await observer.call("room:join", {"roomId": name})
            assert {s["seatIndex"]: s["userId"] for s in ack["seats"]} == seats
            assert set(ack["lockedSeats"]) == locked
            await observer.close()
    finally:
        await asyncio.gather(*(c.close() for c in clients))

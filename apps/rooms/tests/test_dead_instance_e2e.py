"""End to end: two real web servers on one Redis; the one serving user B is killed with
SIGKILL (no cleanup runs), and the surviving server's sweep takes B out of the room."""

from __future__ import annotations

import json
import os
import signal

from apps.realtime.instance_keys import INSTANCES_KEY
from apps.rooms.keys import members_key, state_key
from apps.rooms.repository import RoomRepository
from apps.rooms.tests.test_rooms_e2e import Client, eventually
from apps.users.keys import user_sockets_key
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer, clean_redis_db, free_port
from tests.support.server import run_server, server_env

DB = 8
ROOM = "dead-instance-e2e"
# Low, so the test waits ~5 s, not the default 40 s (25 beats of slack: on a loaded machine a
# 2 s threshold once declared the live server dead, which closed the watching client's socket).
FAST_LIVENESS = {"WEB_INSTANCE_HEARTBEAT_MS": "200", "WEB_INSTANCE_DEAD_AFTER_MS": "5000",
                 "WEB_INSTANCE_SWEEP_INTERVAL_MS": "300"}


async def test_a_killed_servers_user_leaves_the_room_for_the_others(redis_server: RedisServer) -> None:
    laravel_port = free_port()
    env = server_env(redis_server, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LARAVEL_API_TIMEOUT_MS="2000", **FAST_LIVENESS)
    # No media node: joins make no media (the socket's media release is the media tests' part).
    async with clean_redis_db(redis_server, DB) as redis, FakeLaravel(port=laravel_port):
        with run_server(env) as one, run_server(env) as two:
            alice, bob = await Client(201).connect(one), await Client(202).connect(two)
            try:
                await alice.call("room:join", {"roomId": ROOM})
                await bob.call("room:join", {"roomId": ROOM})
                await alice.wait_for("room:userJoined")
                assert len(await redis.hkeys(INSTANCES_KEY)) == 2

                os.kill(two.proc.pid, signal.SIGKILL)
                two.proc.wait(timeout=10)

                # Within dead threshold + sweep interval (+ margin for a loaded machine).
                [left] = await alice.wait_for("room:userLeft", within=15)
                assert left == {"userId": 202}

                async def swept() -> bool:  # userLeft is sent midway; the registries come after
                    raw = await redis.get(state_key(ROOM))
                    return (raw is not None and json.loads(raw)["participantCount"] == 1
                            and await redis.exists(user_sockets_key(202)) == 0
                            and await RoomRepository(redis).get_user_room(202) is None
                            and len(await redis.hkeys(INSTANCES_KEY)) == 1)

                await eventually(swept, within=5)
                assert await redis.hkeys(members_key(ROOM)) == [alice.sio.get_sid().encode()]
                assert await RoomRepository(redis).get_user_room(201) == ROOM
            finally:
                await alice.close()
                await bob.close()

"""Redis killed (SIGKILL) and started again empty on the same port, under a real server:

- sockets connected before stay connected; their events meanwhile get the contract's errors;
- within 2 s of Redis answering, a new client connects and joins, and the web instance is
  registered again with its sockets' records;
- a socket connected before still gets room broadcasts (the channel layer re-subscribed),
  and joins its room again to be listed (docs/protocol.md, "Redis restarts")."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from apps.realtime.instance_keys import INSTANCES_KEY
from apps.rooms.tests.test_rooms_e2e import Client
from apps.users.keys import user_sockets_key
from tests.support.processes import RedisServer, free_port, wait_for_port
from tests.support.server import LiveServer, run_server, server_env

ROOM = "restart-1"
RECOVERY_SECONDS = 2.0


class RestartableRedis:
    """A redis-server on a fixed port that a test can SIGKILL and start again, empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="flylive-redis-restart-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir.name, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)
        return RedisServer("127.0.0.1", self.port, self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self.dir.cleanup()


@pytest.fixture(scope="module")
def redis_and_server() -> Iterator[tuple[RestartableRedis, LiveServer]]:
    redis = RestartableRedis()
    try:
        env = server_env(redis.start(), FLYLIVE_TEST_EVENTS="1", WEB_INSTANCE_HEARTBEAT_MS="1000",
                         WEB_INSTANCE_DEAD_AFTER_MS="10000", LARAVEL_API_TIMEOUT_MS="500")
        with run_server(env, server="uvicorn") as server:
            yield redis, server
    finally:
        redis.stop()


async def within(seconds: float, attempt):
    """Retry `attempt()` until it returns a truthy value; that value, and how long it took."""
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < seconds:
        with contextlib.suppress(Exception):
            last = await attempt()
            if last:
                return last, time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds}s (last: {last!r})")


async def test_sockets_survive_a_redis_restart_and_new_joins_work_within_2_s(
    redis_and_server: tuple[RestartableRedis, LiveServer],
) -> None:
    redis, server = redis_and_server
    probe: Redis = Redis(host="127.0.0.1", port=redis.port, db=3, decode_responses=True,
                         socket_connect_timeout=0.5)
    alice = await Client(9101).connect(server)
    carol: Client | None = None
    try:
        assert "rtpCapabilities" in await alice.call("room:join", {"roomId": ROOM})
        assert await probe.hlen(INSTANCES_KEY) == 1

        redis.kill()
        await asyncio.sleep(0.5)
        # Still connected; events fail with the contract's answers meanwhile.
        assert alice.sio.connected
        outage_answer = await alice.call("room:join", {"roomId": "during-outage"})
        assert outage_answer == {"error": "Internal server error"}
        assert (await alice.call("debug:echo", {"text": "up"}))["data"]["text"] == "up"
        await asyncio.sleep(1.0)
        assert alice.sio.connected

        redis.start()
        back = time.monotonic()
        await probe.aclose()
        probe = Redis(host="127.0.0.1", port=redis.port, db=3, decode_responses=True)
        assert await probe.dbsize() == 0

        carol = Client(9102)

        async def carol_joins() -> bool:
            if not carol.sio.connected:
                await carol.connect(server)
            return "rtpCapabilities" in await carol.call("room:join", {"roomId": ROOM})

        await within(RECOVERY_SECONDS - (time.monotonic() - back), carol_joins)
        assert time.monotonic() - back < RECOVERY_SECONDS

        # The web instance is registered again, with alice's records written again.
        await within(RECOVERY_SECONDS, lambda: probe.hlen(INSTANCES_KEY))
        assert alice.sio.get_sid() in await probe.smembers(user_sockets_key(9101))
        # alice, connected before, gets room broadcasts through the re-subscribed room group:
        # carol's join, and any other event emitted to the room.
        [joined] = await alice.wait_for("room:userJoined", within=5)
        assert joined["userId"] == 9102
        await carol.call("debug:emit", {"target": "room", "roomId": ROOM, "event": "after:restart",
                                        "payload": {"n": 1}})
        assert await alice.wait_for("after:restart", within=5) == [{"n": 1}]
        # Her membership went with Redis's data: she joins again and is listed again.
        again = await alice.call("room:join", {"roomId": ROOM})
        assert [p["id"] for p in again["participants"]] == [9102]
        assert [j["userId"] for j in await carol.wait_for("room:userJoined")] == [9101]
        assert alice.sio.connected
    finally:
        await alice.close()
        if carol is not None:
            await carol.close()
        await probe.aclose()

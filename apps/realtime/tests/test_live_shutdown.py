"""Stopping a web process runs every socket's disconnect cleanup first (socket.io's io.close())."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from apps.realtime.tests.rawclient import RawSocket
from apps.users.keys import user_sockets_key
from tests.support.server import LiveServer, ServerKind, make_token, user_claims


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_sigterm_closes_sockets_and_unregisters_them(
    flylive_server_factory: Callable[..., LiveServer], live_redis: Redis, kind: ServerKind
) -> None:
    server = flylive_server_factory(kind)
    user_id = 8001 if kind == "daphne" else 8002
    raw = await RawSocket.open(server.ws_url)
    assert (await raw.connect({"token": make_token(user_claims(user_id))})).startswith("40")
    assert await live_redis.smembers(user_sockets_key(user_id)) == {raw.sid}

    server.proc.terminate()
    await raw.wait_closed(within=10)
    await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, 15)
    assert not await live_redis.exists(user_sockets_key(user_id))

"""The Socket.IO handshake against the real server process (contract 1.2-1.6)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from apps.realtime.tests.conftest import SioClient, eventually, metric_value, scrape
from apps.realtime.tests.rawclient import RawSocket
from apps.realtime.tokens import revocation_key
from apps.users.keys import user_sockets_key
from tests.support.server import LiveServer, make_token, user_claims

Make = Callable[[], SioClient]


async def test_good_token_connects_and_registers_the_socket(
    any_server: LiveServer, sio_client: Make, live_redis: Redis
) -> None:
    client = sio_client()
    await client.connect(any_server, token=make_token(user_claims(1001)))
    sid = client.sid
    answer = await client.call("debug:whoami", {})
    assert answer["data"]["sid"] == sid
    assert answer["data"]["user"] == {k: v for k, v in user_claims(1001).items() if k not in ("iat", "exp")}
    assert sid in await live_redis.smembers(user_sockets_key(1001))
    assert 0 < await live_redis.ttl(user_sockets_key(1001)) <= 86400
    await client.close()

    async def unregistered() -> bool:
        return not await live_redis.exists(user_sockets_key(1001))

    await eventually(unregistered)


async def test_two_sockets_of_one_user_share_the_set_until_the_last_goes(
    flylive_server: LiveServer, sio_client: Make, live_redis: Redis
) -> None:
    first, second = sio_client(), sio_client()
    token = make_token(user_claims(1002))
    await first.connect(flylive_server, token=token)
    await second.connect(flylive_server, token=token)
    assert await live_redis.smembers(user_sockets_key(1002)) == {first.sid, second.sid}
    await first.close()

    async def one_left() -> bool:
        return await live_redis.smembers(user_sockets_key(1002)) == {second.sid}

    await eventually(one_left)


async def test_foreign_origin_is_refused(any_server: LiveServer, sio_client: Make) -> None:
    assert await sio_client().connect_error(any_server, origin="https://evil.example") == "Origin not allowed"


async def test_origin_match_is_exact(flylive_server: LiveServer, sio_client: Make) -> None:
    assert (
        await sio_client().connect_error(flylive_server, origin="https://FLYLIVEAPP.com")
        == "Origin not allowed"
    )


async def test_missing_origin_is_allowed(flylive_server: LiveServer, sio_client: Make) -> None:
    client = sio_client()
    await client.connect(flylive_server, origin=None)
    assert client.sio.connected


@pytest.mark.parametrize("auth", [{}, {"token": ""}, {"token": None}, {"token": 0}, {"other": "x"}])
async def test_no_token_is_authentication_required(
    flylive_server: LiveServer, sio_client: Make, auth: dict[str, object]
) -> None:
    assert await sio_client().connect_error(flylive_server, auth=auth) == "Authentication required"


@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer   ", "BEARER\t"])
async def test_token_from_the_authorization_header(
    flylive_server: LiveServer, sio_client: Make, prefix: str
) -> None:
    client = sio_client()
    await client.connect(flylive_server, auth={}, headers={"Authorization": prefix + make_token()})
    assert client.sio.connected


async def test_bearer_prefix_in_auth_token_is_stripped(flylive_server: LiveServer, sio_client: Make) -> None:
    client = sio_client()
    await client.connect(flylive_server, auth={"token": "Bearer " + make_token()})
    assert client.sio.connected


async def test_auth_token_wins_over_the_header(flylive_server: LiveServer, sio_client: Make) -> None:
    message = await sio_client().connect_error(
        flylive_server, auth={"token": "garbage"}, headers={"Authorization": "Bearer " + make_token()}
    )
    assert message == "Invalid credentials"


BAD_TOKENS = {
    "garbage": "not-a-jwt",
    "expired": make_token(exp=1_000_000_000),
    "iat_too_old": make_token(iat=1_000_000_000, exp=...),
    "alg_none": ".".join(
        [
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0",
            make_token().split(".")[1],
            "",
        ]
    ),
    "forged_signature": make_token().rsplit(".", 1)[0] + ".c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlISEhIQ",
    "wrong_secret": make_token(secret="some-other-secret-some-other-secret-00"),
    "claims_invalid": make_token(id="42"),
    "claims_missing": make_token(isSpeaker=...),
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
async def test_bad_tokens_are_invalid_credentials(
    any_server: LiveServer, sio_client: Make, name: str
) -> None:
    assert await sio_client().connect_error(any_server, token=BAD_TOKENS[name]) == "Invalid credentials"


@pytest.mark.parametrize("token", [123, True, ["a"], {"a": 1}])
async def test_non_string_token_is_invalid_credentials(
    flylive_server: LiveServer, sio_client: Make, token: object
) -> None:
    assert await sio_client().connect_error(flylive_server, auth={"token": token}) == "Invalid credentials"


async def test_null_jwt_payload_is_refused(flylive_server: LiveServer, sio_client: Make) -> None:
    import base64
    import hashlib
    import hmac

    from tests.support.server import TEST_JWT_SECRET

    head, body = "eyJhbGciOiJIUzI1NiJ9", base64.urlsafe_b64encode(b"null").rstrip(b"=").decode()
    mac = hmac.new(TEST_JWT_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    message = await sio_client().connect_error(flylive_server, token=token)
    assert message in ("Invalid credentials", "Authentication failed")


async def test_revoked_token_is_invalid_credentials(
    any_server: LiveServer, sio_client: Make, live_redis: Redis
) -> None:
    token = make_token(user_claims(1003))
    await live_redis.set(revocation_key(token), "1", ex=60)
    assert await sio_client().connect_error(any_server, token="Bearer " + token) == "Invalid credentials"
    client = sio_client()
    await client.connect(any_server, token=make_token(user_claims(1003, name="fresh")))
    assert client.sio.connected


async def test_auth_outcomes_are_counted(flylive_server: LiveServer, sio_client: Make) -> None:
    before = await scrape(flylive_server)
    await sio_client().connect_error(flylive_server, origin="https://evil.example")
    await sio_client().connect_error(flylive_server, auth={})
    await sio_client().connect_error(flylive_server, token="x")
    await sio_client().connect(flylive_server)
    after = await scrape(flylive_server)
    for result in ("origin_blocked", "no_token", "invalid_token", "success"):
        labels = {"result": result}
        assert metric_value(after, "flylive_auth_attempts_total", labels) == (
            metric_value(before, "flylive_auth_attempts_total", labels) + 1
        ), result


async def test_connections_gauge_follows_connected_sockets(
    flylive_server: LiveServer, sio_client: Make
) -> None:
    client = sio_client()
    before = metric_value(await scrape(flylive_server), "flylive_socket_connections_total")
    await client.connect(flylive_server)
    assert metric_value(await scrape(flylive_server), "flylive_socket_connections_total") == before + 1
    await client.close()

    async def back() -> bool:
        return metric_value(await scrape(flylive_server), "flylive_socket_connections_total") == before

    await eventually(back)


async def test_raw_connect_error_frame_is_exactly_the_contracts(flylive_server: LiveServer) -> None:
    raw = await RawSocket.open(flylive_server.ws_url, origin="https://evil.example")
    try:
        assert await raw.connect({"token": make_token()}) == '44{"message":"Origin not allowed"}'
        # The engine connection stays: the client may CONNECT again after fixing its auth.
        raw2 = await RawSocket.open(flylive_server.ws_url)
        try:
            assert await raw2.connect({"token": "x"}) == '44{"message":"Invalid credentials"}'
            answer = await raw2.connect({"token": make_token()})
            assert answer.startswith("40")
            assert json.loads(answer[2:])["sid"]
        finally:
            await raw2.close()
    finally:
        await raw.close()


async def test_other_namespaces_are_refused(flylive_server: LiveServer) -> None:
    raw = await RawSocket.open(flylive_server.ws_url)
    try:
        await raw.send('40/admin,{"token":"x"}')
        assert await raw.recv() == '44/admin,{"message":"Invalid namespace"}'
    finally:
        await raw.close()

"""Whatever a client puts in a token, the handshake answers one of the contract's texts and
nothing it sends produces an ERROR log or a traceback. A validly signed HS256 token connects
whatever else its header holds (`kid: 5`, `typ`, `cty` of any type)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from apps.realtime.auth import (
    AUTHENTICATION_FAILED,
    AUTHENTICATION_REQUIRED,
    INVALID_CREDENTIALS,
    Handshake,
    HandshakeRejected,
    authenticate,
)
from apps.realtime.tests.conftest import SioClient
from flylive.config import get_config
from tests.support.processes import RedisServer
from tests.support.server import TEST_ORIGIN, LiveServer, user_claims

T = TypeVar("T")
CONTRACT_TEXTS = {INVALID_CREDENTIALS, AUTHENTICATION_REQUIRED, AUTHENTICATION_FAILED}
SECRET = get_config().JWT_SECRET

json_scalars = (st.none() | st.booleans() | st.integers(-(2**80), 2**80)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header_part: str, payload_part: str, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{header_part}.{payload_part}".encode(), hashlib.sha256).digest()
    return f"{header_part}.{payload_part}.{b64(mac)}"


class Deep:
    """A list nested `depth` times, written out as text (the stdlib encoder would recurse)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"


def to_json(value: Any) -> str:
    if isinstance(value, Deep):
        return "[" * value.depth + "1" + "]" * value.depth
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def encode_json(value: Any) -> str:
    return b64(to_json(value).encode())


headers = st.one_of(
    st.fixed_dictionaries({"alg": st.just("HS256")},
                          optional={"kid": json_values, "typ": json_values, "cty": json_values,
                                    "x5u": json_values, "crit": json_values}),
    st.dictionaries(st.text(max_size=6), json_values, max_size=4).map(lambda h: {**h, "alg": "HS256"}),
    json_values,  # any JSON at all: arrays, numbers, objects without alg, alg of other types
).map(encode_json)
raw_parts = st.one_of(
    st.text(max_size=40),  # not base64, not JSON, lone surrogates, dots, ...
    st.binary(max_size=40).map(b64),  # base64 of anything
    st.integers(1, 3000).map(lambda depth: encode_json(Deep(depth))),  # deep nesting
    st.integers(0, 400).map(lambda n: b64(b"1" * n)),  # huge numbers
)
claim_values = st.one_of(json_values, st.just(10**400), st.just(1e308), st.integers(0, 3000).map(Deep))
payloads = st.one_of(
    st.builds(lambda overrides: {**user_claims(), **overrides},
              st.dictionaries(st.sampled_from(sorted(user_claims())), claim_values, max_size=4)),
    json_values,
).map(encode_json)


tokens = st.one_of(
    st.tuples(headers, payloads).map(lambda hp: signed(*hp)),  # validly signed, any content
    st.tuples(raw_parts | headers, raw_parts | payloads).map(lambda hp: signed(*hp)),
    st.tuples(headers, payloads, raw_parts).map(lambda hps: ".".join(hps)),  # forged signature
    st.text(max_size=80),  # anything at all
    st.text(max_size=20).map(lambda t: "Bearer " + t),
)
auth_values = st.one_of(tokens.map(lambda t: {"token": t}), json_values,
                        st.dictionaries(st.just("token"), json_values, max_size=1))


class LoopRunner:
    def __init__(self, redis_server: RedisServer) -> None:
        self.loop = asyncio.new_event_loop()
        self.redis: Redis = Redis.from_url(redis_server.url(db=9), decode_responses=True)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def runner(redis_server: RedisServer) -> Iterator[LoopRunner]:
    loop_runner = LoopRunner(redis_server)
    yield loop_runner
    loop_runner.close()


class ErrorLogs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.bad.append(record)


@pytest.fixture
def error_logs() -> Iterator[ErrorLogs]:
    handler = ErrorLogs()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def outcome(runner: LoopRunner, auth: Any, authorization: str | None = None) -> str | dict[str, Any]:
    handshake = Handshake(origin=TEST_ORIGIN, authorization=authorization, auth=auth)
    try:
        return runner.run(authenticate(handshake, config=get_config(), redis=runner.redis))
    except HandshakeRejected as rejected:
        return rejected.message


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(auth=auth_values, header_token=st.none() | tokens)
def test_any_token_gets_a_contract_answer_and_no_traceback(
    runner: LoopRunner, error_logs: ErrorLogs, auth: Any, header_token: str | None
) -> None:
    result = outcome(runner, auth, header_token)
    assert isinstance(result, dict) or result in CONTRACT_TEXTS, result
    assert result != AUTHENTICATION_FAILED  # nothing a client sends is an unexpected failure
    assert error_logs.bad == [], [(r.getMessage(), r.exc_info) for r in error_logs.bad]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(extra=st.dictionaries(st.sampled_from(["kid", "typ", "cty", "jku", "x5t", "zip"]), json_values,
                             min_size=1))
def test_a_valid_token_connects_whatever_else_its_header_holds(
    runner: LoopRunner, error_logs: ErrorLogs, extra: dict[str, Any]
) -> None:
    token = signed(encode_json({"alg": "HS256", **extra}), encode_json(user_claims(77)))
    result = outcome(runner, {"token": token})
    assert isinstance(result, dict), result
    assert result["id"] == 77
    assert error_logs.bad == []


@pytest.mark.parametrize("depth", [100, 500, 1000, 1100, 5000])
@pytest.mark.parametrize("claim", ["gender", "id", "name", "exp", "iat", "extra"])
def test_deeply_nested_claims_are_invalid_credentials_without_a_traceback(
    runner: LoopRunner, error_logs: ErrorLogs, claim: str, depth: int
) -> None:
    payload = to_json({**user_claims(80), claim: Deep(depth)})
    result = outcome(runner, {"token": signed(encode_json({"alg": "HS256"}), b64(payload.encode()))})
    if claim in ("id", "name"):  # typed claims
        assert result == INVALID_CREDENTIALS
    else:  # String([[1]]) is "1"; a non-numeric exp or iat is ignored; an unknown claim is dropped
        assert result == INVALID_CREDENTIALS or isinstance(result, dict)
    assert error_logs.bad == []


@pytest.mark.parametrize("header", [
    {"alg": "HS256", "typ": "JWT", "kid": 5},
    {"alg": "HS256", "kid": {"nested": [1, 2]}, "typ": None, "cty": 3.5},
    {"alg": "HS256", "typ": ["JWT"], "cty": False, "kid": None},
])
async def test_live_server_accepts_a_kid_5_token(flylive_server: LiveServer,
                                                 sio_client: Callable[[], SioClient],
                                                 header: dict[str, Any]) -> None:
    config_secret = flylive_server.env["JWT_SECRET"]
    token = signed(encode_json(header), encode_json(user_claims(78)), secret=config_secret)
    client = sio_client()
    await client.connect(flylive_server, token=token)
    assert (await client.call("debug:whoami", {}))["data"]["user"]["id"] == 78

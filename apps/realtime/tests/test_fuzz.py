"""Hypothesis fuzzing of the dispatch layer through the real server.

For every registered event (each app's events module, plus the `debug:*` probes)
malformed payloads must get exactly the contract's answer for its ack style, or
nothing for the silent style; arbitrary frames (garbage text, binary, deep
nesting, unknown events) must never hurt the server: the fuzzed socket and
another socket keep getting answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed

from apps.realtime.event_registry import REGISTRY, AckStyle, EventSpec
from apps.realtime.probe_events import probe_specs
from apps.realtime.tests.rawclient import RawSocket
from tests.support.server import LiveServer, make_token, user_claims

T = TypeVar("T")
FUZZ_USER_ID = 9001


def all_specs() -> dict[str, EventSpec]:
    specs = {spec.name: spec for spec in probe_specs()}
    specs.update(REGISTRY)  # the apps' events, as autodiscovered at Django start-up
    return {name: spec for name, spec in specs.items() if spec.schema is not None}


SPECS = all_specs()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
huge_strings = st.sampled_from(["x", "😀", "é", "\u0000"]).flatmap(
    lambda unit: st.integers(1_000, 200_000).map(lambda n: unit * n)
)


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


deep_values = st.integers(50, 400).map(nested)
# Room ids that are not ids (docs/protocol.md, "Room ids"): paths, queries, dots, too long, empty.
hostile_room_ids = st.sampled_from(
    ["1/../../../admin/users/7/ban?", "..", ".", "", "42?x=1", "42#f", "a b", "x" * 65, "é", "42\n", "%2F"]
) | st.text(alphabet="/.?#%: \\", min_size=1, max_size=8).map(lambda t: "42" + t)
field_values = json_values | huge_strings | deep_values | hostile_room_ids


@st.composite
def event_calls(draw: st.DrawFn) -> tuple[EventSpec, list[Any]]:
    spec = draw(st.sampled_from(sorted(SPECS.values(), key=lambda s: s.name)))
    assert spec.schema is not None
    fields = dict.fromkeys(spec.schema.model_fields, field_values)
    obj = st.fixed_dictionaries({}, optional=fields) | st.dictionaries(
        st.text(max_size=10), json_values, max_size=5
    )
    first = obj | json_values.filter(lambda v: not isinstance(v, dict))
    args = draw(st.one_of(st.just([]), first.map(lambda v: [v]), st.tuples(first, json_values).map(list)))
    return spec, args


def is_invalid(spec: EventSpec, args: list[Any]) -> bool:
    """The dispatch layer's own rule (event_registry.py): what must be answered as invalid."""
    assert spec.schema is not None
    if not args or not isinstance(args[0], dict):
        return True
    if spec.ack in (AckStyle.ENVELOPE, AckStyle.PLAIN) and len(args) != 1:
        return True
    try:
        spec.schema.model_validate(args[0])
    except ValidationError:
        return True
    return False


class FuzzSession:
    """A socket on the live server driven from a private event loop (hypothesis runs sync tests)."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.raw = self.run(self._open(FUZZ_USER_ID))
        self.bystander = self.run(self._open(FUZZ_USER_ID + 1))
        self.next_id = 1000
        self.silent_ids: list[int] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _open(self, user_id: int) -> RawSocket:
        raw = await RawSocket.open(self.server.ws_url)
        answer = await raw.connect({"token": make_token(user_claims(user_id))})
        assert answer.startswith("40"), answer
        return raw

    def ack_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def reopen_if_closed(self) -> None:
        if self.raw.ws.close_code is not None:
            self.run(self.raw.close())
            self.raw = self.run(self._open(FUZZ_USER_ID))

    async def still_answers(self, raw: RawSocket) -> None:
        ack_id = self.ack_id()
        assert await raw.call("debug:echo", {"text": "alive"}, ack_id=ack_id, within=10) == {
            "success": True,
            "data": {"text": "alive", "data": None},
        }

    def close(self) -> None:
        for raw in (self.raw, self.bystander):
            self.run(raw.close())
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz(flylive_server: LiveServer) -> Iterator[FuzzSession]:
    session = FuzzSession(flylive_server)
    yield session
    # Silent events never answered, whatever ack id they carried.
    session.run(session.raw.quiet_for(0.3))
    answered = [
        f
        for f in session.raw.received
        if isinstance(f, str) and any(f.startswith(f"43{i}[") for i in session.silent_ids)
    ]
    session.close()
    assert answered == []


def expected_messages(spec: EventSpec, invalid: str) -> set[str]:
    messages = {invalid}
    if spec.rate_limit is not None:
        messages.add(spec.rate_limit.message)
    return messages


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(call=event_calls())
def test_malformed_payloads_get_the_contract_answer(
    fuzz: FuzzSession, call: tuple[EventSpec, list[Any]]
) -> None:
    spec, args = call
    assume(is_invalid(spec, args))
    fuzz.reopen_if_closed()
    ack_id = fuzz.ack_id()
    frame = f"42{ack_id}" + json.dumps([spec.name, *args], separators=(",", ":"))
    assume(len(frame.encode()) <= 1_000_000)
    raw = fuzz.raw

    async def exchange() -> None:
        await raw.send(frame)
        if spec.ack is AckStyle.ENVELOPE:
            [answer] = await raw.wait_ack(ack_id, within=10)
            assert answer["success"] is False
            assert answer["error"] in expected_messages(spec, "Invalid payload")
        elif spec.ack is AckStyle.PLAIN:
            [answer] = await raw.wait_ack(ack_id, within=10)
            allowed = [spec.invalid_ack if spec.invalid_ack is not None else {"error": "Invalid payload"}]
            if spec.rate_limit is not None:
                allowed.append({"error": spec.rate_limit.message})
            assert answer in allowed
        elif spec.ack is AckStyle.ERROR_EVENT:
            [error] = await raw.wait_event("error", within=10)
            assert error["message"] in expected_messages(spec, spec.invalid_message)
            if error["message"] == spec.invalid_message:
                assert isinstance(error["errors"], dict)
                assert "_errors" in error["errors"]
        else:
            fuzz.silent_ids.append(ack_id)
            await fuzz.still_answers(raw)

    fuzz.run(exchange())


garbage_text = st.one_of(
    st.text(max_size=200),
    st.text(max_size=50).map(lambda t: "4" + t),
    st.text(max_size=50).map(lambda t: "42" + t),
    st.tuples(st.integers(0, 10**30), st.text(max_size=20), json_values).map(
        lambda p: f"42{p[0]}" + json.dumps([p[1], p[2]])
    ),  # unknown or real events, any arguments
    st.integers(500, 6000).map(lambda d: '42["debug:echo",{"text":"a","data":' + "[" * d + "]" * d + "}]"),
    st.integers(0, 5000).map(lambda n: "4" + "0" * n),
)
frames = garbage_text | st.binary(max_size=300)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_arbitrary_frames_never_hurt_the_server(fuzz: FuzzSession, batch: list[str | bytes]) -> None:
    fuzz.reopen_if_closed()

    async def exchange() -> None:
        try:
            for frame in batch:
                await fuzz.raw.send(frame)
        except ConnectionClosed:
            pass
        if fuzz.raw.ws.close_code is None:
            try:
                await fuzz.still_answers(fuzz.raw)
            except Exception:
                # Only frames that legitimately end a connection may do so ("1", "41", ...).
                assert any(isinstance(f, str) and f.startswith(("1", "41")) for f in batch), batch
        await fuzz.still_answers(fuzz.bystander)

    fuzz.run(exchange())


def test_every_client_event_of_the_apps_is_fuzzed() -> None:
    """The chat and gift events (and every other app's) are in the fuzzed set."""
    for name in ("chat:message", "gift:send", "gift:prepare", "room:join", "seat:take"):
        assert name in SPECS, name
    assert SPECS["chat:message"].ack is AckStyle.ERROR_EVENT
    assert SPECS["gift:send"].invalid_message == "Invalid gift payload"
    assert SPECS["gift:prepare"].ack is AckStyle.NONE

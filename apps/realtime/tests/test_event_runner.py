"""The dispatch layer in process: validation, ack styles, errors, rate limits, overload,
correlation ids and metrics, with test-local events and a recording connection."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.realtime.correlation import current_correlation_id
from apps.realtime.event_registry import (
    AckStyle,
    ClientError,
    EventContext,
    EventSpec,
    RateLimit,
    SocketSession,
)
from apps.realtime.event_runner import EventRunner
from apps.realtime.loop_services import RealtimeServices
from apps.realtime.schema import NonEmptyStr, Payload
from apps.realtime.tests.conftest import ack_frames, event_frames
from flylive.metrics import REGISTRY as METRICS


class Take(Payload):
    roomId: NonEmptyStr
    seat: int = 0


class RecordingConnection:
    sid = "sock-1"

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.groups: set[str] = set()

    def send_frame(self, frame: str) -> None:
        self.frames.append(frame)

    async def join_group(self, group: str) -> None:
        self.groups.add(group)

    async def leave_group(self, group: str) -> None:
        self.groups.discard(group)

    def hold_announcements(self) -> None:
        pass

    def release_announcements(self) -> None:
        pass


calls: list[tuple[str, Any]] = []


async def ok(ctx: EventContext, p: Take) -> dict[str, Any] | None:
    calls.append(("ok", p))
    return None if p.roomId == "none" else {"room": p.roomId}


async def refuse(ctx: EventContext, p: Take) -> None:
    raise ClientError("Seat is locked")


async def explode(ctx: EventContext, p: Take) -> None:
    raise RuntimeError("boom")


gate = asyncio.Event()


async def blocked(ctx: EventContext, p: Take) -> dict[str, Any]:
    await gate.wait()
    return {"done": True}


async def nested_logging(ctx: EventContext, p: Take) -> dict[str, Any]:
    async def child() -> str | None:
        logging.getLogger("nested").warning("inside a child task")
        return current_correlation_id()

    child_id = await asyncio.create_task(child())
    return {"cid": ctx.correlation_id, "child": child_id}


SPECS = {
    spec.name: spec
    for spec in [
        EventSpec("t:ok", ok, Take, AckStyle.ENVELOPE),
        EventSpec("t:refuse", refuse, Take, AckStyle.ENVELOPE),
        EventSpec("t:explode", explode, Take, AckStyle.ENVELOPE),
        EventSpec("t:plain", ok, Take, AckStyle.PLAIN),
        EventSpec(
            "t:plainCustom",
            ok,
            Take,
            AckStyle.PLAIN,
            invalid_ack={"roomId": None, "error": "Invalid payload"},
        ),
        EventSpec("t:plainRefuse", refuse, Take, AckStyle.PLAIN),
        EventSpec("t:plainExplode", explode, Take, AckStyle.PLAIN),
        EventSpec("t:none", ok, Take, AckStyle.NONE),
        EventSpec("t:noneExplode", explode, Take, AckStyle.NONE),
        EventSpec(
            "t:chat",
            ok,
            Take,
            AckStyle.ERROR_EVENT,
            invalid_message="Invalid chat",
            rate_limit=RateLimit("tchat", 2, 60, "Too many messages"),
        ),
        EventSpec("t:chatRefuse", refuse, Take, AckStyle.ERROR_EVENT),
        EventSpec("t:chatExplode", explode, Take, AckStyle.ERROR_EVENT),
        EventSpec(
            "t:limited",
            ok,
            Take,
            AckStyle.ENVELOPE,
            rate_limit=RateLimit("tlim", lambda config: 1, 60, "Slow down", before_validation=False),
        ),
        EventSpec("t:blocked", blocked, Take, AckStyle.ENVELOPE),
        EventSpec("t:nested", nested_logging, Take, AckStyle.ENVELOPE),
    ]
}


@pytest.fixture
def connection() -> RecordingConnection:
    return RecordingConnection()


@pytest.fixture
def runner(connection: RecordingConnection, services: RealtimeServices) -> EventRunner:
    session = SocketSession(sid=connection.sid, user={"id": 42, "name": "n"})
    return EventRunner(connection, session, services, registry=SPECS, max_in_flight=3)


async def run(runner: EventRunner, name: str, args: list[Any], ack_id: int | None = 1) -> None:
    runner.submit(name, args, ack_id)
    await runner.drain(5)


def metric(name: str, **labels: str) -> float:
    return METRICS.get_sample_value(name, labels) or 0.0


# --- ENVELOPE ---


async def test_envelope_success_without_and_with_data(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    await run(runner, "t:ok", [{"roomId": "none"}], 1)
    await run(runner, "t:ok", [{"roomId": "r1", "unknown": 1}], 2)
    assert ack_frames(connection.frames) == {
        1: {"success": True},
        2: {"success": True, "data": {"room": "r1"}},
    }


async def test_envelope_client_error(runner: EventRunner, connection: RecordingConnection) -> None:
    await run(runner, "t:refuse", [{"roomId": "r"}])
    assert ack_frames(connection.frames) == {1: {"success": False, "error": "Seat is locked"}}


async def test_envelope_internal_error_is_logged_with_traceback_and_correlation_id(
    runner: EventRunner, connection: RecordingConnection, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await run(runner, "t:explode", [{"roomId": "r"}])
    assert ack_frames(connection.frames) == {1: {"success": False, "error": "Internal server error"}}
    failure = next(r for r in caplog.records if r.exc_info)
    assert "RuntimeError: boom" in caplog.text
    assert failure.__dict__["correlation_id"] in failure.getMessage()
    line = next(r for r in caplog.records if "status=server_error" in r.getMessage())
    assert failure.__dict__["correlation_id"] in line.getMessage()


@pytest.mark.parametrize(
    "args", [[], [None], ["room"], [5], [[1]], [{"roomId": ""}], [{"roomId": 5}], [{"roomId": "r"}, "extra"]]
)
async def test_envelope_invalid_payloads(
    runner: EventRunner, connection: RecordingConnection, args: list[Any]
) -> None:
    calls.clear()
    await run(runner, "t:ok", args)
    assert ack_frames(connection.frames) == {1: {"success": False, "error": "Invalid payload"}}
    assert calls == []


async def test_without_ack_id_side_effects_happen_silently(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    calls.clear()
    await run(runner, "t:ok", [{"roomId": "r"}], None)
    await run(runner, "t:ok", ["bad"], None)
    assert connection.frames == []
    assert len(calls) == 1


# --- PLAIN ---


async def test_plain_acks_the_handlers_dict(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    await run(runner, "t:plain", [{"roomId": "r"}], 1)
    await run(runner, "t:plain", [{"roomId": ""}], 2)
    await run(runner, "t:plainCustom", ["x"], 3)
    await run(runner, "t:plainRefuse", [{"roomId": "r"}], 4)
    await run(runner, "t:plainExplode", [{"roomId": "r"}], 5)
    assert ack_frames(connection.frames) == {
        1: {"room": "r"},
        2: {"error": "Invalid payload"},
        3: {"roomId": None, "error": "Invalid payload"},
        4: {"error": "Seat is locked"},
        5: {"error": "Internal server error"},
    }


# --- NONE ---


async def test_none_never_answers_even_with_an_ack_id(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    calls.clear()
    await run(runner, "t:none", [{"roomId": "r"}], 1)
    await run(runner, "t:none", [{"roomId": 1}], 2)
    await run(runner, "t:noneExplode", [{"roomId": "r"}], 3)
    assert connection.frames == []
    assert len(calls) == 1


# --- ERROR_EVENT ---


async def test_error_event_on_invalid_payload_with_zod_tree(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    await run(runner, "t:chat", [{"roomId": ""}], 1)
    await run(runner, "t:chat", [], None)
    assert ack_frames(connection.frames) == {}
    assert event_frames(connection.frames, "error") == [
        [
            "error",
            {
                "message": "Invalid chat",
                "errors": {
                    "_errors": [],
                    "roomId": {"_errors": ["String must contain at least 1 character(s)"]},
                },
            },
        ],
        ["error", {"message": "Invalid chat", "errors": {"_errors": ["Required"]}}],
    ]


async def test_error_event_rate_limit_counts_invalid_messages_too(
    runner: EventRunner, connection: RecordingConnection, redis: Redis
) -> None:
    calls.clear()
    await run(runner, "t:chat", ["not an object"])
    await run(runner, "t:chat", [{"roomId": "r"}])
    await run(runner, "t:chat", [{"roomId": "r"}])
    messages = [e[1]["message"] for e in event_frames(connection.frames, "error")]
    assert messages == ["Invalid chat", "Too many messages"]
    assert len(calls) == 1
    assert await redis.get("ratelimit:tchat:42") == "3"
    assert 0 < await redis.ttl("ratelimit:tchat:42") <= 60


async def test_error_event_client_error_and_silent_internal_error(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    await run(runner, "t:chatRefuse", [{"roomId": "r"}])
    await run(runner, "t:chatExplode", [{"roomId": "r"}])
    assert event_frames(connection.frames) == [["error", {"message": "Seat is locked"}]]


async def test_extra_arguments_are_ignored_by_non_acking_events(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    calls.clear()
    await run(runner, "t:none", [{"roomId": "r"}, "extra", 1], None)
    assert len(calls) == 1


# --- rate limit after validation, overload, unknown events ---


async def test_rate_limit_after_validation_does_not_count_invalid_payloads(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    await run(runner, "t:limited", ["bad"], 1)
    await run(runner, "t:limited", [{"roomId": "r"}], 2)
    await run(runner, "t:limited", [{"roomId": "r"}], 3)
    assert ack_frames(connection.frames) == {
        1: {"success": False, "error": "Invalid payload"},
        2: {"success": True, "data": {"room": "r"}},
        3: {"success": False, "error": "Slow down"},
    }


async def test_more_than_the_in_flight_bound_is_too_many_requests(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    gate.clear()
    before = metric("flylive_socket_events_total", event="t:blocked", status="overloaded")
    for ack_id in range(1, 6):
        runner.submit("t:blocked", [{"roomId": "r"}], ack_id)
    assert runner.in_flight == 3
    assert ack_frames(connection.frames) == {
        4: {"success": False, "error": "Too many requests"},
        5: {"success": False, "error": "Too many requests"},
    }
    gate.set()
    await runner.drain(5)
    acks = ack_frames(connection.frames)
    assert [acks[i] for i in (1, 2, 3)] == [{"success": True, "data": {"done": True}}] * 3
    assert metric("flylive_socket_events_total", event="t:blocked", status="overloaded") == before + 2


async def test_unknown_events_are_ignored(
    runner: EventRunner, connection: RecordingConnection
) -> None:
    await run(runner, "no:such", [{"a": 1}], 1)
    assert connection.frames == []


# --- correlation id and metrics ---


async def test_correlation_id_reaches_nested_tasks_and_log_records(
    runner: EventRunner, connection: RecordingConnection, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await run(runner, "t:nested", [{"roomId": "r"}])
    data = ack_frames(connection.frames)[1]["data"]
    assert data["cid"] == data["child"]
    nested = next(r for r in caplog.records if r.name == "nested")
    assert nested.__dict__["correlation_id"] == data["cid"]


async def test_metrics_count_each_outcome(runner: EventRunner) -> None:
    labels = {"event": "t:ok"}
    before_ok = metric("flylive_socket_events_total", **labels, status="success")
    before_invalid = metric("flylive_socket_events_total", **labels, status="invalid")
    before_count = metric("flylive_socket_event_latency_seconds_count", **labels)
    await run(runner, "t:ok", [{"roomId": "r"}])
    await run(runner, "t:ok", [{}])
    assert metric("flylive_socket_events_total", **labels, status="success") == before_ok + 1
    assert metric("flylive_socket_events_total", **labels, status="invalid") == before_invalid + 1
    assert metric("flylive_socket_event_latency_seconds_count", **labels) == before_count + 2

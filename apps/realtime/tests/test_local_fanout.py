"""The channel layer's local fan-out of a room frame (emit.deliver_to_local_socket)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from apps.realtime import channel_layer
from apps.realtime.emit import (
    deliver_to_local_socket,
    frame_message,
    register_local_socket,
    unregister_local_socket,
)
from flylive.metrics import REGISTRY
from tests.support.processes import RedisServer


def _fanout_metrics() -> tuple[float, float]:
    """(fan-out passes, deliveries) counted so far in this process."""
    return (REGISTRY.get_sample_value("flylive_room_fanout_seconds_count") or 0.0,
            REGISTRY.get_sample_value("flylive_room_fanout_deliveries_total") or 0.0)


class Member:
    def __init__(self, room_join_seq: int) -> None:
        self.room_join_seq = room_join_seq
        self.frames: list[str] = []

    def send_frame(self, frame: str) -> None:
        self.frames.append(frame)

    def send_announcement(self, frame: str, member_seq: int) -> None:
        if self.room_join_seq <= member_seq:
            self.send_frame(frame)


@pytest.fixture
def members() -> Iterator[dict[str, Member]]:
    local = {"early": Member(1), "late": Member(5), "unknown": Member(0)}
    for sid, member in local.items():
        register_local_socket(sid, member)
    yield local
    for sid in local:
        unregister_local_socket(sid)


def test_an_announcement_skips_the_sender_and_members_whose_ack_listed_it(members: dict[str, Member]) -> None:
    message = frame_message('42["room:userJoined",{}]', exclude_sid="joiner", new_member_seq=3)
    for sid in (*members, "joiner"):
        assert deliver_to_local_socket(sid, message) is (sid != "joiner")
    assert members["early"].frames == ['42["room:userJoined",{}]']  # joined before #3: told
    assert members["late"].frames == []  # joined after #3: its join ack listed #3
    assert members["unknown"].frames == ['42["room:userJoined",{}]']


def test_other_frames_reach_every_member_but_the_excluded_one(members: dict[str, Member]) -> None:
    message = frame_message('42["seat:updated",{}]', exclude_sid="late")
    for sid in members:
        assert deliver_to_local_socket(sid, message)
    assert [len(m.frames) for m in members.values()] == [1, 0, 1]


def test_what_is_not_a_local_frame_is_left_to_the_socket_reader(members: dict[str, Member]) -> None:
    assert not deliver_to_local_socket("early", {"type": "room.force_leave", "roomId": "r"})
    assert not deliver_to_local_socket("elsewhere", frame_message("42[]"))


async def test_a_joining_socket_holds_announcements_until_its_number_is_known() -> None:
    from typing import Any

    from apps.realtime.connection import SocketIOConnection
    from apps.realtime.event_registry import EventContext, SocketSession

    connection = SocketIOConnection({}, send=None,  # type: ignore[arg-type]
                                    services=None, channel_layer=None,  # type: ignore[arg-type]
                                    ping_interval=25, ping_timeout=20)
    connection.session = SocketSession(sid="me", user={"id": 1})
    ctx = EventContext(connection.session, "cid", connection)
    sent: list[Any] = []
    connection.send_frame = sent.append  # type: ignore[method-assign, assignment]
    connection.hold_announcements()
    for seq in (2, 4, 7):
        connection.send_announcement(f"member {seq}", seq)
    assert sent == []  # held: the join script has not answered yet
    ctx.room_joined(5)
    assert sent == ["member 7"]  # 2 and 4 joined earlier: the ack lists them
    connection.send_announcement("member 3", 3)
    connection.send_announcement("member 9", 9)
    assert sent == ["member 7", "member 9"]


async def test_a_send_that_must_wait_is_finished_by_the_writer_before_later_frames() -> None:
    import asyncio
    import contextlib
    from collections.abc import Mapping
    from typing import Any

    from apps.realtime.connection import SocketIOConnection

    gate = asyncio.Event()
    written: list[str] = []

    async def send(message: Mapping[str, Any]) -> None:
        if message["text"] == "slow":
            await gate.wait()  # the client is not reading: the server's send waits
        written.append(message["text"])

    connection = SocketIOConnection({}, send=send, services=None,  # type: ignore[arg-type]
                                    channel_layer=None, ping_interval=25, ping_timeout=20)
    writer = asyncio.create_task(connection._write_loop())
    await asyncio.sleep(0)  # the writer sleeps on an empty outbox
    connection.send_frame("fast")
    assert written == ["fast"]  # written by the caller, no task switch
    connection.send_frame("slow")
    connection.send_frame("after")
    await asyncio.sleep(0.01)
    assert written == ["fast"]
    gate.set()
    await asyncio.sleep(0.01)
    assert written == ["fast", "slow", "after"]
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer


async def test_a_long_fan_out_gives_the_core_away_between_deliveries(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A group message to 200 local members on the real Redis layer: every member gets it once,
    the fan-out yields the core (sched_yield) after each FANOUT_YIELD_EVERY of them, and the
    pass is counted in the fan-out metrics."""
    yields: list[int] = []
    real_yield = os.sched_yield

    def counting_yield() -> None:
        yields.append(len(delivered))
        real_yield()

    monkeypatch.setattr(os, "sched_yield", counting_yield)
    layer = channel_layer.BoundedPubSubChannelLayer(hosts=[redis_server.url(db=7)], prefix="fanout")
    delivered: list[str] = []
    all_delivered = asyncio.Event()

    class Counting(Member):
        def send_frame(self, frame: str) -> None:
            delivered.append(frame)
            if len(delivered) == len(names):
                all_delivered.set()

    names = [await layer.new_channel() for _ in range(200)]
    try:
        for name in names:
            register_local_socket(name, Counting(0))
            await layer.group_add("room.fanout", name)
        passes, deliveries = _fanout_metrics()
        await layer.group_send("room.fanout", frame_message("42[\"chat:message\",{}]"))
        await asyncio.wait_for(all_delivered.wait(), 5)
        assert delivered == ['42["chat:message",{}]'] * 200
        every = channel_layer.FANOUT_YIELD_EVERY
        assert yields == [every - 1 + every * n for n in range(200 // every)]
        assert _fanout_metrics() == (passes + 1, deliveries + 200)
        assert (REGISTRY.get_sample_value("flylive_room_fanout_seconds_sum") or 0) > 0
    finally:
        for name in names:
            unregister_local_socket(name)
        await layer.flush()

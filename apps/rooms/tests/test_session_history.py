"""Room session history: a row when a room opens, completed when it closes (peak participants,
gift and chat counts kept in Redis meanwhile), on real Redis and the test database."""

from __future__ import annotations

import pytest

from apps.rooms.models import RoomSession
from apps.rooms.session_history import session_history, session_key
from apps.rooms.tests.conftest import Harness
from apps.rooms.tests.fakes import FakeSocket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_room_session_row_from_open_to_close(h: Harness) -> None:
    history = session_history(h.redis)
    alice, bob, carol = FakeSocket.of("a", 1), FakeSocket.of("b", 2), FakeSocket.of("c", 3)
    await h.service.join(alice, "hist", 15)
    await history.drain()
    [opened] = [row async for row in RoomSession.objects.filter(room_id="hist")]
    assert opened.opened_at is not None
    assert opened.closed_at is None
    await h.service.join(bob, "hist", 15)
    await h.service.join(carol, "hist", 15)
    await h.service.leave(carol, "hist")
    for _ in range(3):
        await history.count("hist", "chats")
    await history.count("hist", "gifts")
    assert await h.service.close_room("hist", "worker_died")

    [closed] = [row async for row in RoomSession.objects.filter(room_id="hist")]
    assert closed.session_id == opened.session_id
    assert closed.close_reason == "worker_died"
    assert closed.closed_at is not None
    assert closed.opened_at == opened.opened_at
    assert (closed.peak_participants, closed.chat_count, closed.gift_count) == (3, 3, 1)
    assert not await h.redis.exists(session_key("hist"))

    # The next life of the room is a new session; counts after the close start nothing.
    await history.count("hist", "chats")
    assert not await h.redis.exists(session_key("hist"))
    await h.service.join(alice, "hist", 15)
    await history.drain()
    assert await RoomSession.objects.filter(room_id="hist").acount() == 2


async def test_a_database_failure_costs_history_only(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.rooms import session_history as module

    def broken(*args: object) -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(module, "_write_opened", broken)
    monkeypatch.setattr(module, "_write_closed", broken)
    alice = FakeSocket.of("a", 1)
    await h.service.join(alice, "hist-broken", 15)
    await session_history(h.redis).drain()
    assert await h.service.close_room("hist-broken", "inactivity")
    assert await RoomSession.objects.filter(room_id="hist-broken").acount() == 0

"""Laravel room status reports: one call in flight per room, the latest report wins."""

from __future__ import annotations

import asyncio

from apps.rooms.status_reporter import RoomStatus, RoomStatusReporter


class RecordingLaravel:
    def __init__(self, *, fail_first: bool = False) -> None:
        self.calls: list[tuple[str, RoomStatus]] = []
        self.release = asyncio.Event()
        self.fail_first = fail_first

    async def post(self, room_id: str, status: RoomStatus) -> None:
        self.calls.append((room_id, status))
        await self.release.wait()
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("Laravel is down")


async def test_a_burst_of_joins_becomes_the_first_report_and_the_latest() -> None:
    laravel = RecordingLaravel()
    reporter = RoomStatusReporter(laravel.post)
    for count in range(1, 101):
        reporter.report("r1", RoomStatus(is_live=True, participant_count=count))
        await asyncio.sleep(0)
    laravel.release.set()
    await reporter.drain()
    assert laravel.calls == [("r1", RoomStatus(True, 1)), ("r1", RoomStatus(True, 100))]
    assert not reporter.pending


async def test_rooms_report_independently() -> None:
    laravel = RecordingLaravel()
    reporter = RoomStatusReporter(laravel.post)
    reporter.report("a", RoomStatus(True, 1))
    reporter.report("b", RoomStatus(True, 7))
    await asyncio.sleep(0)
    assert sorted(room for room, _ in laravel.calls) == ["a", "b"]  # neither waits for the other
    laravel.release.set()
    await reporter.drain()


async def test_the_close_report_is_the_last_one_laravel_sees() -> None:
    laravel = RecordingLaravel()
    reporter = RoomStatusReporter(laravel.post)
    reporter.report("r", RoomStatus(True, 3))
    await asyncio.sleep(0)
    reporter.report("r", RoomStatus(True, 2))
    reporter.report("r", RoomStatus(False, 0, ended_at="2026-11-21T00:00:00.000Z"))
    laravel.release.set()
    await reporter.drain()
    assert laravel.calls[-1] == ("r", RoomStatus(False, 0, "2026-11-21T00:00:00.000Z"))
    assert len(laravel.calls) == 2


async def test_a_failed_call_does_not_lose_the_next_report() -> None:
    laravel = RecordingLaravel(fail_first=True)
    reporter = RoomStatusReporter(laravel.post)
    reporter.report("r", RoomStatus(True, 1))
    await asyncio.sleep(0)
    reporter.report("r", RoomStatus(True, 2))
    laravel.release.set()
    await reporter.drain()
    assert [status.participant_count for _, status in laravel.calls] == [1, 2]


async def test_reports_over_the_rate_wait_and_flush_sends_the_latest_at_once() -> None:
    laravel = RecordingLaravel()
    laravel.release.set()
    reporter = RoomStatusReporter(laravel.post, max_calls=1, per_seconds=30.0)
    reporter.report("r", RoomStatus(True, 1))
    await asyncio.sleep(0.01)
    for count in range(2, 51):
        reporter.report("r", RoomStatus(True, count))
        await asyncio.sleep(0)
    assert [status.participant_count for _, status in laravel.calls] == [1]  # the rest waits
    await asyncio.wait_for(reporter.flush("r"), 1.0)
    assert [status.participant_count for _, status in laravel.calls] == [1, 50]
    assert not reporter.pending

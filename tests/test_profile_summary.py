"""bench/profile_summary.py sorts py-spy's raw stacks into the README's categories."""

from __future__ import annotations

from pathlib import Path

from bench.profile_summary import REST, summarize
from tests.support.processes import repo_root

MAIN = "<module> (<string>:1);Runner.run (asyncio/runners.py:118)"
FANOUT = "_FanOutShardConnection._receive_message (apps/realtime/channel_layer.py:{line})"
WRITE = "DirectFrameWriter.write (apps/realtime/direct_write.py:70)"
JOIN = "RoomService.join (apps/rooms/service.py:1);RoomRepository.join (apps/rooms/repository.py:1)"


def _yield_line() -> int:
    source = (repo_root() / "apps/realtime/channel_layer.py").read_text().splitlines()
    return next(number for number, text in enumerate(source, 1) if "os.sched_yield()" in text)


def test_categories_yields_and_helper_threads(tmp_path: Path) -> None:
    yield_line = _yield_line()
    profile = tmp_path / "web.txt"
    profile.write_text("\n".join([
        # a write inside the fan-out is a websocket send, not fan-out
        f"{MAIN};{FANOUT.format(line=yield_line + 2)};{WRITE} 30",
        f"{MAIN};{FANOUT.format(line=yield_line + 2)} 10",
        f"{MAIN};{FANOUT.format(line=yield_line)} 50",  # the core given away
        f"{MAIN};{JOIN} 5",
        f"{MAIN};LaravelClient.request (apps/integrations/laravel_client.py:1) 4",
        f"{MAIN};SocketIOConnection._connect (apps/realtime/connection.py:1) 1",
        "Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:81) 99",
        "not a sample line",
    ]) + "\n")
    counts, helpers, yields = summarize([profile])
    assert (helpers, yields) == (99, 50)
    assert counts == {"websocket send": 30, "channel layer receive + fan-out": 10,
                      "room join script + member list": 5, "Laravel status calls (httpx)": 4, REST: 1}

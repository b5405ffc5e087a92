"""CPU use of the node's mediasoup workers, for the heartbeat (and so the web's Prometheus scrape).

`ratio(pid)` is the share of one core the worker used since the previous call for that pid
(1.0 = a full core), read from /proc by psutil; 0.0 on the first call and for a pid that is gone.
"""

from __future__ import annotations

import time

import psutil


class WorkerCpu:
    def __init__(self) -> None:
        self._last: dict[int, tuple[float, float]] = {}  # pid -> (monotonic time, cpu seconds)

    def ratio(self, pid: int) -> float:
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.Error, ValueError):
            self._last.pop(pid, None)
            return 0.0
        now, used = time.monotonic(), float(times.user + times.system)
        previous = self._last.get(pid)
        self._last[pid] = (now, used)
        if len(self._last) > 256:  # workers come and go: keep only recent pids
            self._last = {pid: self._last[pid]}
        if previous is None or now <= previous[0]:
            return 0.0
        return round(max(0.0, used - previous[1]) / (now - previous[0]), 4)

"""Sockets whose media in a room was released, remembered for a while (tombstones).

A transport:create or audio:produce still running on the node when the socket's release
arrives (the socket left or disconnected meanwhile) would otherwise leave its transport or
producer on the worker with nobody to close it. The node checks here before it starts such a
request and again once it made the object, and closes what belongs to a released epoch.

Epochs: a socket's membership count (one more at each room:join, see events.py). Leaving and
joining the same room again gives a higher epoch, which a release of the old one does not cover.
"""

from __future__ import annotations

import time

# Longer than any request's budget (the gateway waits 5 s): a request older than this was
# dropped by the RPC server before it could start.
TOMBSTONE_TTL_SECONDS = 60.0
_PRUNE_EVERY = 256


class ReleasedSockets:
    def __init__(self, ttl_seconds: float = TOMBSTONE_TTL_SECONDS) -> None:
        self.ttl = ttl_seconds
        # (room id, sid) -> (highest released epoch, expiry on the monotonic clock)
        self._released: dict[tuple[str, str], tuple[int, float]] = {}
        self._adds = 0

    def release(self, room_id: str, sid: str, epoch: int) -> None:
        now = time.monotonic()
        key = (room_id, sid)
        previous = self._released.get(key)
        highest = max(epoch, previous[0]) if previous is not None and previous[1] > now else epoch
        self._released[key] = (highest, now + self.ttl)
        self._adds += 1
        if self._adds % _PRUNE_EVERY == 0:
            self._released = {k: v for k, v in self._released.items() if v[1] > now}

    def is_released(self, room_id: str, sid: str, epoch: int) -> bool:
        entry = self._released.get((room_id, sid))
        return entry is not None and entry[1] > time.monotonic() and epoch <= entry[0]

    def __len__(self) -> int:
        return len(self._released)

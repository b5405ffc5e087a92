"""Redis keys of one room (contract 5.2, 6, 11, plus the shared membership this port adds).

Every key of a room carries the room id as its hash tag (`room:{42}:members`,
`room:state:{42}`): on a Redis Cluster all of a room's keys live in one slot, so each room
script stays atomic (docs/redis-keys.md). Room ids never hold braces (RoomId).
"""

from __future__ import annotations

ROOM_STATE_TTL_SECONDS = 86400
# Sorted set room id -> ms of its last join: every room that has state, so the auto-close
# pass and /health find rooms without SCAN. Written with each join (same round trip as its
# script), cleared after the close.
ACTIVE_ROOMS_KEY = "rooms:active"
# The auto-close pass's lock (redis_lock.RedisLock): runs never overlap.
AUTO_CLOSE_LOCK_KEY = "rooms:auto_close:lock"


def state_key(room_id: str) -> str:
    return f"room:state:{{{room_id}}}"


def activity_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:activity"


def closing_key(room_id: str) -> str:
    """Held (PX) by the process closing the room until its close is complete: joins wait for it."""
    return f"room:{{{room_id}}}:closing"


def members_key(room_id: str) -> str:
    """Hash socket id -> JSON participant entry: every socket in the room, on any web process."""
    return f"room:{{{room_id}}}:members"


def member_users_key(room_id: str) -> str:
    """Hash user id -> number of that user's sockets in the room (seat/pointer stay until 0)."""
    return f"room:{{{room_id}}}:member_users"


def join_seq_key(room_id: str) -> str:
    """Counter: the sequence number of the room's latest new member (see room_join.lua)."""
    return f"room:{{{room_id}}}:join_seq"


def producers_key(room_id: str) -> str:
    """Hash producer id -> user id, written by the media service (read for existingProducers)."""
    return f"room:{{{room_id}}}:producers"


"""Redis keys of one room (contract 5.2, 6, 11, plus the shared membership this port adds)."""

from __future__ import annotations

import re

ROOM_STATE_TTL_SECONDS = 86400
ROOM_STATE_PATTERN = "room:state:*"
_GLOB_SPECIAL = re.compile(r"[*?\[\]\\]")


def state_key(room_id: str) -> str:
    return f"room:state:{room_id}"


def activity_key(room_id: str) -> str:
    return f"room:{room_id}:activity"


def seats_key(room_id: str) -> str:
    return f"room:{room_id}:seats"


def locked_seats_key(room_id: str) -> str:
    return f"room:{room_id}:locked_seats"


def invite_pattern(room_id: str) -> str:
    """SCAN pattern for the room's invites; glob characters in the id are escaped."""
    escaped = _GLOB_SPECIAL.sub(r"\\\g<0>", room_id)
    return f"room:{escaped}:invite:*"


def members_key(room_id: str) -> str:
    """Hash socket id -> JSON participant entry: every socket in the room, on any web process."""
    return f"room:{room_id}:members"


def member_users_key(room_id: str) -> str:
    """Hash user id -> number of that user's sockets in the room (seat/pointer stay until 0)."""
    return f"room:{room_id}:member_users"


def producers_key(room_id: str) -> str:
    """Hash producer id -> user id, written by the media service (read for existingProducers)."""
    return f"room:{room_id}:producers"


def room_id_from_state_key(key: str) -> str:
    return key[len("room:state:"):]

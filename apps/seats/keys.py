"""Redis keys of a room's seats and invites (contract 5.2, plus the indexes this port adds).

Contract keys (the Node server's shapes, with the room id as hash tag so that a room's keys
share one Redis Cluster slot): `room:{id}:seats`, `room:{id}:locked_seats`,
`room:{id}:invite:{seatIndex}`. Added: the reverse index `room:{id}:seat_of` (user -> seat),
the room's seat count, the invite targets and invitee seats hashes, the room's index of
invite keys (`room:{id}:invites`, deleted with the room) and one sorted set of every
pending invite's expiry (`seats:invite_expiry`, members `{roomId}:{seatIndex}`), which the
expiry sweep reads. The expiry index is global, so the scripts keep to the room's keys and the
index is written right after them (apps/seats/repository.py).
"""

from __future__ import annotations

INVITE_EXPIRY_KEY = "seats:invite_expiry"


def seats_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:seats"


def seat_of_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:seat_of"


def locked_seats_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:locked_seats"


def seat_count_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:seat_count"


def invite_key(room_id: str, seat_index: int | str) -> str:
    return f"room:{{{room_id}}}:invite:{seat_index}"


def invite_targets_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:invite_targets"


def invitee_seats_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:invitee_seats"


def room_invites_index_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:invites"


def expiry_member(room_id: str, seat_index: int | str) -> str:
    """Room ids never hold `:` (RoomId), so the member splits back at its last colon."""
    return f"{room_id}:{seat_index}"


def parse_expiry_member(member: str) -> tuple[str, int] | None:
    room_id, _, index = member.rpartition(":")
    return (room_id, int(index)) if room_id and index.isdigit() else None

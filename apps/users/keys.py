"""Redis keys about one user (contract 8.6), with ids formatted as JavaScript prints them.

The user id is the keys' hash tag (`user:{7}:room`): one slot per user on a Redis Cluster.
"""

from __future__ import annotations

from flylive.js_number import js_number

USER_KEY_TTL_SECONDS = 86400


def _user_tag(user_id: int | float | str) -> str:
    """A number as JavaScript prints it; a text is an id already so formatted (as stored)."""
    return user_id if isinstance(user_id, str) else js_number(user_id)


def user_room_key(user_id: int | float | str) -> str:
    return f"user:{{{_user_tag(user_id)}}}:room"


def user_sockets_key(user_id: int | float | str) -> str:
    return f"user:{{{_user_tag(user_id)}}}:sockets"

"""Redis keys about one user (contract 8.6), with ids formatted as JavaScript prints them."""

from __future__ import annotations

from flylive.js_number import js_number

USER_KEY_TTL_SECONDS = 86400


def user_room_key(user_id: int | float) -> str:
    return f"user:{js_number(user_id)}:room"


def user_sockets_key(user_id: int | float) -> str:
    return f"user:{js_number(user_id)}:sockets"

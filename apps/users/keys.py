"""Redis keys about one user (contract 8.6), with ids formatted as JavaScript prints them."""

from __future__ import annotations

import math
from decimal import Decimal

USER_KEY_TTL_SECONDS = 86400


def js_number(value: int | float) -> str:
    """`String(value)` in JavaScript: 42 and 42.0 are both "42"; 1e21 is "1e+21"."""
    if isinstance(value, bool):
        raise TypeError("a user id is a number, not a boolean")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)  # shortest round-trip digits, like JavaScript
    mantissa, _, exponent_text = text.partition("e")
    if not exponent_text:
        return text
    exponent = int(exponent_text)
    if -7 < exponent < 21:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def user_room_key(user_id: int | float) -> str:
    return f"user:{js_number(user_id)}:room"


def user_sockets_key(user_id: int | float) -> str:
    return f"user:{js_number(user_id)}:sockets"

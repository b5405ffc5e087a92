"""Numbers formatted as JavaScript's `String(value)` prints them: user ids in Redis keys,
log lines and Laravel payloads must match what the Node server wrote."""

from __future__ import annotations

import math
from decimal import Decimal


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

"""Redis replies as text: clients made with and without decode_responses both reach this code."""

from __future__ import annotations


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

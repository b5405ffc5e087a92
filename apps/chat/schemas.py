"""Payload of `chat:message` (contract 2.10, 7.2) and the message the room receives (3)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from apps.realtime.schema import Payload, RoomId, Utf16Len

CONTENT_MAX_LENGTH = 500
# Not in the contract (its `type` is any string): a bound, so that a client cannot make the
# server broadcast a megabyte to every member under a 500-character message limit.
TYPE_MAX_LENGTH = 50


class ChatMessage(Payload):
    roomId: RoomId
    content: Annotated[str, Utf16Len(min_length=1, max_length=CONTENT_MAX_LENGTH)]
    # Optional, but never null (zod's `.optional()`); absent or "" is "text".
    type: Annotated[str, Utf16Len(max_length=TYPE_MAX_LENGTH)] = ""


class ChatBroadcast(TypedDict):
    id: str  # uuid v4, made by the server
    userId: int | float
    userName: str
    avatar: str
    content: str
    type: str
    timestamp: int  # ms

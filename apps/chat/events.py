"""`chat:message` (contract 2.10, 7.2): rate limited per user (before validation, so invalid
messages count too), never acked; refusals go to the sender as an `error` event
(`Too many messages`, `Invalid payload` with zod's error tree).

Decisions (fixes over the baseline, wire shapes unchanged):
- The sender must have joined the room (PROTOCOL "What we keep, what we fix"): otherwise
  `error {"message": "Room not found"}`, the contract's text for acting on a room one is not in.
- One sender's messages reach the room in the order sent (`ordered=True`: the baseline kept
  that order by accident of one Redis connection; concurrent handlers would not).
- Chat shows life in the room (auto-close spares it) and counts in the room's session history.
- `type` is bounded (schemas.TYPE_MAX_LENGTH); `null` is invalid, as zod's `.optional()`.
"""

from __future__ import annotations

import time
import uuid

from apps.chat.schemas import ChatBroadcast, ChatMessage
from apps.realtime.emit import Room
from apps.realtime.event_registry import AckStyle, EventContext, RateLimit, event
from apps.rooms.session_history import session_history

CHAT_RATE_LIMIT = RateLimit("chat", lambda config: config.RATE_LIMIT_MESSAGES_PER_MINUTE, 60,
                            "Too many messages")


@event("chat:message", schema=ChatMessage, ack=AckStyle.ERROR_EVENT, rate_limit=CHAT_RATE_LIMIT,
       room_activity=True, ordered=True)
async def chat_message(ctx: EventContext, p: ChatMessage) -> None:
    ctx.require_member(p.roomId)
    message: ChatBroadcast = {
        "id": str(uuid.uuid4()),
        "userId": ctx.user_id,
        "userName": ctx.user["name"],
        "avatar": ctx.user["avatar"],
        "content": p.content,
        "type": p.type or "text",
        "timestamp": int(time.time() * 1000),
    }
    await ctx.emit(Room(p.roomId), "chat:message", message)
    await session_history().count(p.roomId, "chats")

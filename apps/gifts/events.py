"""`gift:send` and `gift:prepare` (contract 2.11, 2.12, 7.4).

`gift:send`: rate limited (30 per 60 s per user, before validation), never acked, refusals as
an `error` event (`Too many gifts, please slow down`, `Invalid gift payload` with zod's tree).
The transaction is queued for the flush (buffer.py), then the room sees `gift:received`
(optimistic: Laravel has charged nothing yet); the sender hears back only through
`gift:error` if Laravel rejects it or it is dead-lettered.
`gift:prepare`: relayed to the rest of the room; never answered, silent on any error.

Decisions (fixes over the baseline, wire shapes unchanged):
- Both require having joined the room (PROTOCOL "What we keep, what we fix"): `gift:send`
  from outside answers `error {"message": "Room not found"}` (the contract's text for a room
  one is not in), `gift:prepare` is dropped.
- The transaction is queued before `gift:received` goes out, so a room never sees a gift that
  was not queued; transaction ids are `g_<uuid4>`.
- One sender's gifts are queued and announced in the order sent (`ordered=True`).
- Gifts show life in the room (auto-close spares it) and count in its session history.
"""

from __future__ import annotations

from apps.gifts.buffer import gift_buffer, make_transaction
from apps.gifts.schemas import GiftPrepare, GiftReceived, GiftSend
from apps.realtime.emit import Room
from apps.realtime.event_registry import AckStyle, EventContext, RateLimit, event

GIFT_RATE_LIMIT = RateLimit("gift", 30, 60, "Too many gifts, please slow down")


@event("gift:send", schema=GiftSend, ack=AckStyle.ERROR_EVENT, invalid_message="Invalid gift payload",
       rate_limit=GIFT_RATE_LIMIT, room_activity=True, ordered=True)
async def gift_send(ctx: EventContext, p: GiftSend) -> None:
    ctx.require_member(p.roomId)
    tx = make_transaction(room_id=p.roomId, sender_id=ctx.user_id, recipient_id=p.recipientId,
                          gift_id=p.giftId, quantity=p.quantity, sender_socket_id=ctx.sid)
    await gift_buffer().enqueue(tx)
    received: GiftReceived = {"senderId": ctx.user_id, "roomId": p.roomId, "giftId": p.giftId,
                              "recipientId": p.recipientId, "quantity": p.quantity}
    await ctx.emit(Room(p.roomId, exclude_sid=ctx.sid), "gift:received", received)


@event("gift:prepare", schema=GiftPrepare, ack=AckStyle.NONE, room_activity=True, ordered=True)
async def gift_prepare(ctx: EventContext, p: GiftPrepare) -> None:
    ctx.require_member(p.roomId)
    await ctx.emit(Room(p.roomId, exclude_sid=ctx.sid), "gift:prepare",
                   {"giftId": p.giftId, "recipientId": p.recipientId})

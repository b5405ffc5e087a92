"""Payloads of `gift:send` / `gift:prepare` (contract 2.11, 2.12), the transaction queued for
Laravel (7.3) and the events clients receive (3)."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from pydantic import Field

from apps.realtime.schema import JsInt, Payload, RoomId

PositiveInt = Annotated[JsInt, Field(gt=0)]


class GiftSend(Payload):
    roomId: RoomId
    giftId: PositiveInt
    recipientId: PositiveInt
    quantity: PositiveInt = 1  # no maximum (contract 2.11)


class GiftPrepare(Payload):
    roomId: RoomId
    giftId: PositiveInt
    recipientId: PositiveInt


class GiftTransaction(TypedDict):
    """One queued gift (contract 7.3). Laravel gets it without `sender_socket_id`."""

    transaction_id: str  # "g_" + uuid4 (the baseline's was time + socket id + 5 random chars)
    room_id: str
    sender_id: int | float
    recipient_id: int
    gift_id: int
    quantity: int
    timestamp: int  # ms
    sender_socket_id: str
    retryCount: NotRequired[int]  # failed attempts so far (absent before the first failure)


class GiftReceived(TypedDict):
    senderId: int | float
    roomId: str
    giftId: int
    recipientId: int
    quantity: int


class GiftError(TypedDict):
    transactionId: str
    # Laravel's number and text, forwarded as Laravel sent them; or "PROCESSING_FAILED" and ours.
    code: Any
    reason: Any

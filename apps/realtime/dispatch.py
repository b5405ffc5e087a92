"""The one dispatch layer: event name -> handler, with validation, ack envelope,
errors, rate limits, correlation id, metrics and logging done here and nowhere else.

A handler is domain logic only:

    @event("seat:take", schema=SeatTake)
    async def take_seat(ctx: EventContext, p: SeatTake) -> dict[str, object] | None:
        ctx.require_member(p.roomId)
        seat = await seats.take(...)            # raises ClientError("Seat is locked")
        await ctx.emit(Room(p.roomId, exclude_sid=ctx.sid), "seat:updated", {...})
        return None                             # ENVELOPE: {"success": true}; a dict -> {"success": true, "data": dict}

STATUS: interface fixed (other apps code against it); implementation of
`dispatch_event` and `EventContext` internals belongs to apps/realtime.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from apps.realtime.emit import Target


class ClientError(Exception):
    """An error a client caused. `message` is the contract's exact text (e.g. "Room not found")."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class AckStyle(Enum):
    # {"success": true[, "data": ...]} / {"success": false, "error": text}
    ENVELOPE = "envelope"
    # The handler's returned dict is the ack (room:join, user:getRoom);
    # errors are {"error": text}, invalid payload is EventSpec.invalid_ack.
    PLAIN = "plain"
    # Never acks; invalid payloads and errors are dropped silently (room:leave, gift:prepare).
    NONE = "none"
    # Never acks; errors go to the sender as an `error` event {"message", "errors"?} (chat, gift:send).
    ERROR_EVENT = "error_event"


@dataclass(frozen=True)
class RateLimit:
    """Fixed window in Redis: key `ratelimit:{bucket}:{userId}` (contract section 7.1)."""

    bucket: str
    limit: int | Callable[[Any], int]  # an int, or a function of AppConfig
    window_seconds: int
    message: str  # e.g. "Too many messages"
    before_validation: bool = True


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class EventSpec:
    name: str
    handler: Handler
    schema: type[BaseModel] | None
    ack: AckStyle
    invalid_ack: dict[str, Any] | None = None  # PLAIN only; default {"error": "Invalid payload"}
    invalid_message: str = "Invalid payload"  # ERROR_EVENT only (gift:send: "Invalid gift payload")
    rate_limit: RateLimit | None = None


# event name -> spec; filled by @event at import of each app's events module.
REGISTRY: dict[str, EventSpec] = {}


def event(
    name: str,
    *,
    schema: type[BaseModel] | None = None,
    ack: AckStyle = AckStyle.ENVELOPE,
    invalid_ack: dict[str, Any] | None = None,
    invalid_message: str = "Invalid payload",
    rate_limit: RateLimit | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler `async def h(ctx: EventContext, payload: Schema) -> Any`."""

    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise RuntimeError(f"event {name!r} registered twice")
        REGISTRY[name] = EventSpec(name, handler, schema, ack, invalid_ack, invalid_message, rate_limit)
        return handler

    return register


DisconnectHook = Callable[["SocketSession"], Awaitable[None]]
# Called, in registration order, when a socket goes away (any reason). Rooms use it
# for leave/cleanup, media to close the socket's transports.
DISCONNECT_HOOKS: list[DisconnectHook] = []


def on_disconnect(hook: DisconnectHook) -> DisconnectHook:
    DISCONNECT_HOOKS.append(hook)
    return hook


@dataclass
class SocketSession:
    """What the server knows about one connected socket (lives in its consumer)."""

    sid: str
    user: dict[str, Any]  # the 16 validated JWT claims (contract 1.4)
    room_id: str | None = None  # the room this socket has joined, if any
    # Per-socket state owned by domain apps, keyed by app ("media": {...}).
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int | float:
        uid: int | float = self.user["id"]
        return uid


class EventContext:
    """Given to every handler. Implemented by apps/realtime (see consumer/dispatcher)."""

    session: SocketSession
    correlation_id: str

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def user(self) -> dict[str, Any]:
        return self.session.user

    @property
    def user_id(self) -> int | float:
        return self.session.user_id

    def require_member(self, room_id: str) -> None:
        """Raise ClientError("Room not found") unless this socket has joined `room_id`."""
        if self.session.room_id != room_id:
            raise ClientError("Room not found")

    async def emit(self, target: Target, event: str, payload: Any) -> None:
        raise NotImplementedError

    async def join_room_group(self, room_id: str) -> None:
        """Subscribe this socket to the room's broadcast group (socket.join)."""
        raise NotImplementedError

    async def leave_room_group(self, room_id: str) -> None:
        raise NotImplementedError

"""The one dispatch layer: event name -> handler, with validation, ack envelope,
errors, rate limits, correlation id, metrics and logging done here and nowhere else.

A handler is domain logic only:

    @event("seat:take", schema=SeatTake)
    async def take_seat(ctx: EventContext, p: SeatTake) -> dict[str, object] | None:
        ctx.require_member(p.roomId)
        seat = await seats.take(...)            # raises ClientError("Seat is locked")
        await ctx.emit(Room(p.roomId, exclude_sid=ctx.sid), "seat:updated", {...})
        return None                 # ENVELOPE: {"success": true}; a dict -> {"success": true, "data": dict}

Ack styles (contract 1.7): ENVELOPE answers `{"success": true[, "data": result]}`,
`{"success": false, "error": "Invalid payload" | ClientError text | "Internal server error"}`;
PLAIN acks the handler's dict (None: no ack), errors as `{"error": text}`; NONE never
answers; ERROR_EVENT never acks and sends `error` `{"message", "errors"?}` to the sender.
Acked styles need exactly one object argument; the non-acked ones validate the first
argument and ignore extras (as the baseline does). The run-time side is
`apps/realtime/event_runner.py`; payload building blocks are in `apps/realtime/schema.py`.

Handlers of one socket run concurrently (each in its own task, started in arrival
order, like Node's async handlers), except that events declared `ordered=True` run one
after another in arrival order; at most 16 at a time per socket, beyond which
the event is answered `Too many requests` in its ack style.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from apps.realtime import emit as _emit

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
    # A success shows life in the payload's `roomId` (auto-close spares the room).
    room_activity: bool = False
    # This socket's events of ordered specs run one at a time in arrival order (rate limit,
    # handler, broadcasts): one sender's chat messages and gifts reach the room in order.
    ordered: bool = False


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
    room_activity: bool = False,
    ordered: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a handler `async def h(ctx: EventContext, payload: Schema) -> Any`."""

    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise RuntimeError(f"event {name!r} registered twice")
        REGISTRY[name] = EventSpec(name, handler, schema, ack, invalid_ack, invalid_message, rate_limit,
                                   room_activity, ordered)
        return handler

    return register


DisconnectHook = Callable[["SocketSession"], Awaitable[None]]
# Called, in registration order, when a socket goes away (any reason). Rooms use it
# for leave/cleanup, media to close the socket's transports.
DISCONNECT_HOOKS: list[DisconnectHook] = []


def on_disconnect(hook: DisconnectHook) -> DisconnectHook:
    DISCONNECT_HOOKS.append(hook)
    return hook


RoomHook = Callable[["SocketSession", str], Awaitable[None]]
# Called just before a socket joins a room (so whatever they record is never behind the
# membership: a crash in between leaves at most a record of a room the socket is not in).
# Errors are logged and the join goes on. The realtime layer records the socket's room
# for the dead-instance sweep here.
ROOM_JOIN_HOOKS: list[RoomHook] = []
# Called after a socket left a room, whatever the way out: room:leave, joining another
# room, disconnect, the room closing. Must be idempotent and must not raise for a room it
# knows nothing of. Media releases the socket's transports here. The rooms app runs both
# lists; they live here so that lower apps (media) register without importing rooms.
ROOM_LEAVE_HOOKS: list[RoomHook] = []


def on_room_join(hook: RoomHook) -> RoomHook:
    ROOM_JOIN_HOOKS.append(hook)
    return hook


def on_room_leave(hook: RoomHook) -> RoomHook:
    ROOM_LEAVE_HOOKS.append(hook)
    return hook


RoomActivityRecorder = Callable[[str], Awaitable[None]]
# Set by the rooms app: records that a room shows life (auto-close spares it). The event
# runner calls it after every successful event declared with `room_activity=True`.
_room_activity_recorder: list[RoomActivityRecorder] = []


def set_room_activity_recorder(recorder: RoomActivityRecorder) -> None:
    _room_activity_recorder[:] = [recorder]


def room_activity_recorder() -> RoomActivityRecorder | None:
    return _room_activity_recorder[0] if _room_activity_recorder else None


ChannelMessageHandler = Callable[["EventContext", dict[str, Any]], Awaitable[None]]
# Channel-layer message type -> handler, run for each socket that receives such a message
# (e.g. a group_send to a room's group). Types are dotted like Channels' ("room.force_leave").
CHANNEL_MESSAGE_HANDLERS: dict[str, ChannelMessageHandler] = {}


def on_channel_message(message_type: str) -> Callable[[ChannelMessageHandler], ChannelMessageHandler]:
    """Handle a custom channel-layer message on every socket it reaches:

        @on_channel_message("room.force_leave")
        async def forced_out(ctx: EventContext, message: dict[str, Any]) -> None: ...

    Each runs in its own task with a fresh correlation id; errors are logged."""

    def register(handler: ChannelMessageHandler) -> ChannelMessageHandler:
        if message_type in CHANNEL_MESSAGE_HANDLERS:
            raise RuntimeError(f"channel message {message_type!r} registered twice")
        CHANNEL_MESSAGE_HANDLERS[message_type] = handler
        return handler

    return register


@dataclass
class SocketSession:
    """What the server knows about one connected socket (lives in its consumer)."""

    sid: str
    user: dict[str, Any]  # the 16 validated JWT claims (contract 1.4)
    room_id: str | None = None  # the room this socket has joined, if any
    # Its number in that room's join order (rooms' join script; 0 when unknown): frames that
    # announce an earlier member are not for it, its join ack already listed that member.
    room_join_seq: int = 0
    # The web instance (web_instance.py) whose records list this socket; None when no live
    # connection of this process serves it (unit tests, a sweep cleaning up a dead instance).
    instance_id: str | None = None
    # Per-socket state owned by domain apps, keyed by app ("media": {...}).
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int | float:
        uid: int | float = self.user["id"]
        return uid


class SocketConnection(Protocol):
    """The consumer side of one socket, as the dispatch layer sees it."""

    @property
    def sid(self) -> str: ...

    def send_frame(self, frame: str) -> None:
        """Queue one encoded frame for this socket (ordered, never blocks)."""

    async def join_group(self, group: str) -> None: ...

    async def leave_group(self, group: str) -> None: ...

    def hold_announcements(self) -> None: ...

    def release_announcements(self) -> None: ...


class EventContext:
    """Given to every handler: who is calling, and how to answer and broadcast."""

    session: SocketSession
    correlation_id: str

    def __init__(self, session: SocketSession, correlation_id: str,
                 connection: SocketConnection | None = None) -> None:
        self.session = session
        self.correlation_id = correlation_id
        # None when there is no live socket (unit tests): group changes are then no-ops.
        self.connection = connection

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
        """Same as `apps.realtime.emit.emit` (a Socket(self.sid) target is delivered directly)."""
        await _emit.emit(target, event, payload)

    def room_joined(self, join_seq: int) -> None:
        """The room join is done (or failed): this socket is the room's new member `join_seq`
        (0: unknown); announcements held since `join_room_group` go out, minus those of members
        its join ack listed."""
        self.session.room_join_seq = join_seq
        if self.connection is not None:
            self.connection.release_announcements()

    async def join_room_group(self, room_id: str) -> None:
        """Subscribe this socket to the room's broadcast group (socket.join), holding new-member
        announcements until `room_joined` (the caller's join must call it, also on failure).

        Only the broadcast subscription: `session.room_id` is the rooms app's to set."""
        if self.connection is not None:
            self.connection.hold_announcements()
            await self.connection.join_group(_emit.room_group(room_id))

    async def leave_room_group(self, room_id: str) -> None:
        if self.connection is not None:
            await self.connection.leave_group(_emit.room_group(room_id))

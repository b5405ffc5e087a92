"""`debug:*` events for testing the realtime layer against a live server.

Registered only when FLYLIVE_TEST_EVENTS is on (the test server's environment);
never in production. One event per dispatch behaviour: each ack style, client and
internal errors, a rate limit, a slow handler, group membership and every emit target.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import Field

from apps.realtime.emit import Everyone, Room, Socket, Target, User
from apps.realtime.event_registry import REGISTRY, AckStyle, ClientError, EventContext, EventSpec, RateLimit
from apps.realtime.schema import JsInt, JsNumber, NonEmptyStr, Payload, Utf16Len


class Echo(Payload):
    text: Annotated[str, Utf16Len(max_length=1_000_000)]
    data: Any = None


class Plain(Payload):
    value: JsInt


class Shout(Payload):
    content: Annotated[str, Utf16Len(1, 5)]


class Fail(Payload):
    kind: Literal["client", "internal"]


class Sleep(Payload):
    ms: Annotated[JsInt, Field(ge=0, le=60_000)]


class RoomRef(Payload):
    roomId: NonEmptyStr


class EmitRequest(Payload):
    target: Literal["room", "room_except_me", "socket", "user", "everyone"]
    roomId: str | None = None
    sid: str | None = None
    userId: JsNumber | None = None
    event: str
    payload: Any = None


async def echo(ctx: EventContext, p: Echo) -> dict[str, Any]:
    return {"text": p.text, "data": p.data}


async def plain(ctx: EventContext, p: Plain) -> dict[str, Any]:
    return {"value": p.value}


async def silent(ctx: EventContext, p: Plain) -> None:
    await ctx.emit(Socket(ctx.sid), "debug:silentDone", {"value": p.value})


async def shout(ctx: EventContext, p: Shout) -> None:
    if p.content == "oops":
        raise ClientError("Shout refused")
    await ctx.emit(Socket(ctx.sid), "debug:shouted", {"content": p.content})


async def fail(ctx: EventContext, p: Fail) -> None:
    if p.kind == "client":
        raise ClientError("Seat is locked")
    raise RuntimeError("probe: deliberate internal failure")


async def sleep(ctx: EventContext, p: Sleep) -> dict[str, Any]:
    await asyncio.sleep(p.ms / 1000)
    return {"slept": p.ms}


async def whoami(ctx: EventContext, p: Any) -> dict[str, Any]:
    return {"sid": ctx.sid, "user": ctx.user}


async def join(ctx: EventContext, p: RoomRef) -> None:
    await ctx.join_room_group(p.roomId)


async def leave(ctx: EventContext, p: RoomRef) -> None:
    await ctx.leave_room_group(p.roomId)


async def emit_to(ctx: EventContext, p: EmitRequest) -> None:
    target: Target
    if p.target in ("room", "room_except_me"):
        if p.roomId is None:
            raise ClientError("roomId required")
        target = Room(p.roomId, exclude_sid=ctx.sid if p.target == "room_except_me" else None)
    elif p.target == "socket":
        target = Socket(p.sid or ctx.sid)
    elif p.target == "user":
        target = User(p.userId if p.userId is not None else ctx.user_id)
    else:
        target = Everyone()
    await ctx.emit(target, p.event, p.payload)


def probe_specs() -> list[EventSpec]:
    envelope, plain_ack = AckStyle.ENVELOPE, AckStyle.PLAIN
    return [
        EventSpec("debug:echo", echo, Echo, envelope),
        EventSpec("debug:plain", plain, Plain, plain_ack,
                  invalid_ack={"value": None, "error": "Invalid payload"}),
        EventSpec("debug:silent", silent, Plain, AckStyle.NONE),
        EventSpec("debug:shout", shout, Shout, AckStyle.ERROR_EVENT, invalid_message="Invalid shout",
                  rate_limit=RateLimit("debugshout", 5, 60, "Too many shouts")),
        EventSpec("debug:fail", fail, Fail, envelope),
        EventSpec("debug:failPlain", fail, Fail, plain_ack),
        EventSpec("debug:sleep", sleep, Sleep, envelope),
        EventSpec("debug:whoami", whoami, None, envelope),
        EventSpec("debug:join", join, RoomRef, envelope),
        EventSpec("debug:leave", leave, RoomRef, envelope),
        EventSpec("debug:emit", emit_to, EmitRequest, envelope),
    ]


def register_probe_events() -> None:
    for spec in probe_specs():
        REGISTRY.setdefault(spec.name, spec)

"""The eleven seat events (contract 2.9), registered with the dispatch layer. Each handler
checks membership and hands over to the seat service, which checks permissions, runs the
script and broadcasts. Every seat event shows life in its room (auto-close spares it)."""

from __future__ import annotations

from apps.realtime.event_registry import EventContext, event
from apps.seats.schemas import (
    SeatAssign,
    SeatAt,
    SeatInvite,
    SeatInviteAnswer,
    SeatLeave,
    SeatTake,
    SeatTarget,
)
from apps.seats.service import seat_service


@event("seat:take", schema=SeatTake, room_activity=True)
async def seat_take(ctx: EventContext, p: SeatTake) -> None:
    ctx.require_member(p.roomId)
    await seat_service().take(p.roomId, ctx.user_id, p.seatIndex, actor_sid=ctx.sid)


@event("seat:leave", schema=SeatLeave, room_activity=True)
async def seat_leave(ctx: EventContext, p: SeatLeave) -> None:
    ctx.require_member(p.roomId)
    await seat_service().leave(p.roomId, ctx.user_id, actor_sid=ctx.sid)


@event("seat:assign", schema=SeatAssign, room_activity=True)
async def seat_assign(ctx: EventContext, p: SeatAssign) -> None:
    ctx.require_member(p.roomId)
    await seat_service().assign(p.roomId, ctx.user_id, p.userId, p.seatIndex, actor_sid=ctx.sid)


@event("seat:remove", schema=SeatTarget, room_activity=True)
async def seat_remove(ctx: EventContext, p: SeatTarget) -> None:
    ctx.require_member(p.roomId)
    await seat_service().remove(p.roomId, ctx.user_id, p.userId, actor_sid=ctx.sid)


@event("seat:mute", schema=SeatTarget, room_activity=True)
async def seat_mute(ctx: EventContext, p: SeatTarget) -> None:
    ctx.require_member(p.roomId)
    await seat_service().set_muted(p.roomId, ctx.user_id, p.userId, True, actor_sid=ctx.sid)


@event("seat:unmute", schema=SeatTarget, room_activity=True)
async def seat_unmute(ctx: EventContext, p: SeatTarget) -> None:
    ctx.require_member(p.roomId)
    await seat_service().set_muted(p.roomId, ctx.user_id, p.userId, False, actor_sid=ctx.sid)


@event("seat:lock", schema=SeatAt, room_activity=True)
async def seat_lock(ctx: EventContext, p: SeatAt) -> None:
    ctx.require_member(p.roomId)
    await seat_service().lock(p.roomId, ctx.user_id, p.seatIndex, actor_sid=ctx.sid)


@event("seat:unlock", schema=SeatAt, room_activity=True)
async def seat_unlock(ctx: EventContext, p: SeatAt) -> None:
    ctx.require_member(p.roomId)
    await seat_service().unlock(p.roomId, ctx.user_id, p.seatIndex, actor_sid=ctx.sid)


@event("seat:invite", schema=SeatInvite, room_activity=True)
async def seat_invite(ctx: EventContext, p: SeatInvite) -> None:
    ctx.require_member(p.roomId)
    await seat_service().invite(p.roomId, ctx.user_id, p.userId, p.seatIndex, actor_sid=ctx.sid)


@event("seat:invite:accept", schema=SeatInviteAnswer, room_activity=True)
async def seat_invite_accept(ctx: EventContext, p: SeatInviteAnswer) -> None:
    ctx.require_member(p.roomId)
    await seat_service().answer_invite(p.roomId, ctx.user_id, p.seatIndex, accept=True, actor_sid=ctx.sid)


@event("seat:invite:decline", schema=SeatInviteAnswer, room_activity=True)
async def seat_invite_decline(ctx: EventContext, p: SeatInviteAnswer) -> None:
    ctx.require_member(p.roomId)
    await seat_service().answer_invite(p.roomId, ctx.user_id, p.seatIndex, accept=False, actor_sid=ctx.sid)

"""Seats of a room (contract 2.9, 5): who sits where, locks, invites, and what everyone sees.

Every operation is one Lua script (repository.py), then its broadcasts and media effects.
The socket events (events.py) and, later, staff actions call the same methods; `actor_sid`
is the acting socket (None for staff), which decides ROOM+ (the actor gets the event too,
even when the broadcast excludes it) against ROOM*.

Decisions (fixes over the baseline, wire shapes unchanged):
- A seat vacated by a move (take, assign, invite accept) gets its `seat:cleared`.
- Removing a user from a seat (seat:remove, being evicted by seat:assign, a lock on their
  seat) closes their producer (`audio:producerClosed`, from the media node); mute pauses
  and unmute resumes it, wherever it lives.
- The room's seat count (stored when the room is created) bounds every operation.
- An accept that cannot take the seat changes nothing: the invite stays pending.
- An invite that expires is announced: `seat:invite:pending {seatIndex, isPending: false}`.

Other apps call: `room_seats` (room:join's ack), `open_room` (a new session), `vacate`
(a user left the room), `forget_room` (the room closed), `expire_due_invites` (the sweep).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from apps.integrations.laravel_client import laravel_client
from apps.media import gateway
from apps.realtime.emit import Room, Socket, Target, User
from apps.seats.permissions import RoomAuthority
from apps.seats.repository import RoomSeats, SeatError, SeatRepository
from flylive.config import AppConfig, get_config
from flylive.redis_types import AsyncPipeline, ReplyReader

logger = logging.getLogger(__name__)

Emit = Callable[[Target, str, Any], Awaitable[None]]
EXPIRY_BATCH = 200  # invites expired per sweep round trip


def now_ms() -> int:
    return int(time.time() * 1000)


class SeatService:
    def __init__(self, repo: SeatRepository, authority: RoomAuthority, *, emit: Emit) -> None:
        self.repo = repo
        self.authority = authority
        self._emit = emit

    # -- delivery ---------------------------------------------------------------------------------

    async def _room_minus(self, room_id: str, actor_sid: str | None, event: str, payload: Any) -> None:
        await self._emit(Room(room_id, exclude_sid=actor_sid), event, payload)

    async def _room_plus(self, room_id: str, actor_sid: str | None, event: str, payload: Any) -> None:
        """ROOM+: the room without the actor, then the actor directly (even if not a member)."""
        await self._emit(Room(room_id, exclude_sid=actor_sid), event, payload)
        if actor_sid is not None:
            await self._emit(Socket(actor_sid), event, payload)

    async def _cleared(self, room_id: str, actor_sid: str | None, index: int) -> None:
        if index >= 0:
            await self._room_minus(room_id, actor_sid, "seat:cleared", {"seatIndex": index})

    async def _media(self, what: str, work: Awaitable[int]) -> None:
        # The seat change is done and announced; a media node that fails here is logged.
        try:
            await work
        except Exception:
            logger.exception("seat media effect (%s) failed", what)

    # -- seat:take, seat:leave ------------------------------------------------------------------

    async def take(self, room_id: str, user_id: int | float, index: int, *, actor_sid: str | None) -> None:
        moved = await self.repo.take(room_id, user_id, index)
        await self._room_minus(room_id, actor_sid, "seat:updated",
                               {"seatIndex": index, "userId": user_id, "isMuted": False})
        await self._cleared(room_id, actor_sid, moved.previous)

    async def leave(self, room_id: str, user_id: int | float, *, actor_sid: str | None) -> None:
        index = await self.repo.leave(room_id, user_id)
        await self._cleared(room_id, actor_sid, index)

    # -- owner: seat:assign, seat:remove --------------------------------------------------------

    async def assign(self, room_id: str, actor_id: int | float, target: int | float, index: int, *,
                     actor_sid: str | None) -> None:
        await self.authority.require_owner(room_id, actor_id)
        assigned = await self.repo.assign(room_id, target, index)
        await self._room_minus(room_id, actor_sid, "seat:updated",
                               {"seatIndex": index, "userId": target, "isMuted": False})
        await self._cleared(room_id, actor_sid, assigned.previous)
        if assigned.evicted is not None:
            await self._media("close evicted", gateway.close_user_producers(room_id, assigned.evicted))

    async def remove(self, room_id: str, actor_id: int | float, target: int | float, *,
                     actor_sid: str | None) -> None:
        await self.authority.require_owner(room_id, actor_id)
        await self.remove_unchecked(room_id, target, actor_sid=actor_sid)

    async def remove_unchecked(self, room_id: str, target: int | float, *, actor_sid: str | None) -> None:
        """seat:remove after its permission check (staff actions check their own)."""
        index = await self.repo.leave(room_id, target)
        await self._cleared(room_id, actor_sid, index)
        await self._media("close removed", gateway.close_user_producers(room_id, target))

    # -- owner or admin: mute, lock -------------------------------------------------------------

    async def set_muted(self, room_id: str, actor_id: int | float | None, target: int | float, muted: bool, *,
                        actor_sid: str | None) -> None:
        if actor_id is not None:
            await self.authority.require_manager(room_id, actor_id)
        await self.repo.set_muted(room_id, target, muted)
        await self._media("pause" if muted else "resume",
                          gateway.set_user_producers_paused(room_id, target, muted))
        await self._room_plus(room_id, actor_sid, "seat:userMuted", {"userId": target, "isMuted": muted})

    async def lock(self, room_id: str, actor_id: int | float | None, index: int, *,
                   actor_sid: str | None) -> None:
        if actor_id is not None:
            await self.authority.require_manager(room_id, actor_id)
        kicked = await self.repo.lock(room_id, index)
        if kicked is not None:
            await self._room_plus(room_id, actor_sid, "seat:cleared", {"seatIndex": index})
            await self._media("close kicked", gateway.close_user_producers(room_id, kicked))
        await self._room_plus(room_id, actor_sid, "seat:locked", {"seatIndex": index, "isLocked": True})

    async def unlock(self, room_id: str, actor_id: int | float | None, index: int, *,
                     actor_sid: str | None) -> None:
        if actor_id is not None:
            await self.authority.require_manager(room_id, actor_id)
        await self.repo.unlock(room_id, index)
        await self._room_plus(room_id, actor_sid, "seat:locked", {"seatIndex": index, "isLocked": False})

    # -- invites --------------------------------------------------------------------------------

    async def invite(self, room_id: str, actor_id: int | float, target: int | float, index: int, *,
                     actor_sid: str | None) -> None:
        if target == actor_id:
            raise SeatError("Cannot invite yourself")
        await self.authority.require_manager(room_id, actor_id)
        expires_at = await self.repo.invite(room_id, index, target, actor_id, now_ms=now_ms())
        await self._room_plus(room_id, actor_sid, "seat:invite:pending",
                              {"seatIndex": index, "isPending": True, "invitedUserId": target})
        await self._emit(User(target), "seat:invite:received",
                         {"seatIndex": index, "invitedById": actor_id, "expiresAt": expires_at,
                          "targetUserId": target})

    async def answer_invite(self, room_id: str, user_id: int | float, index: int | None, *, accept: bool,
                            actor_sid: str | None) -> None:
        candidates = [index] if index is not None else await self.repo.pending_invite_seats(room_id, user_id)
        error = SeatError("No pending invite found")
        for seat in candidates:
            try:
                answered = await self.repo.answer_invite(room_id, user_id, seat, accept=accept)
            except SeatError as refused:
                error = refused
                if refused.message == "No pending invite found":
                    continue  # a stale index entry: try the user's next invite
                raise
            await self._room_plus(room_id, actor_sid, "seat:invite:pending",
                                  {"seatIndex": seat, "isPending": False})
            if accept:
                if answered.unlocked:
                    await self._room_plus(room_id, actor_sid, "seat:locked",
                                          {"seatIndex": seat, "isLocked": False})
                await self._room_plus(room_id, actor_sid, "seat:updated",
                                      {"seatIndex": seat, "userId": user_id, "isMuted": False})
                await self._cleared(room_id, actor_sid, answered.previous)
            return
        raise error

    async def expire_due_invites(self) -> int:
        """Expire every invite whose 30 s are up and tell its room; how many (the sweep)."""
        expired = 0
        while True:
            now = now_ms()
            due = await self.repo.due_invites(now, EXPIRY_BATCH)
            settled = 0
            for entry in due:
                outcome = await self.repo.expire_invite(entry, now_ms=now)
                settled += outcome.settled
                if outcome.target is not None:
                    expired += 1
                    await self._emit(Room(entry.room_id), "seat:invite:pending",
                                     {"seatIndex": entry.index, "isPending": False})
            # A short batch was the last; one where nothing settled (invites on seats a newer
            # invite took, not due yet) is left for the next sweep instead of read again.
            if len(due) < EXPIRY_BATCH or not settled:
                return expired

    # -- for other apps -------------------------------------------------------------------------

    async def room_seats(self, room_id: str) -> RoomSeats:
        return await self.repo.room_seats(room_id)

    def queue_room_seats(self, pipe: AsyncPipeline, room_id: str) -> ReplyReader[RoomSeats]:
        """`room_seats` read in the caller's round trip (the room join's pipeline)."""
        return self.repo.queue_room_seats(pipe, room_id)

    async def open_room(self, room_id: str, seat_count: int) -> None:
        """A room's session begins: empty seats, `seat_count` of them."""
        await self.repo.open_room(room_id, seat_count)

    async def vacate(self, room_id: str, user_id: int | float) -> int | None:
        """The user left the room: free their seat (the caller announces it); its index."""
        try:
            return await self.repo.leave(room_id, user_id)
        except SeatError:
            return None

    async def forget_room(self, room_id: str) -> None:
        await self.repo.forget_room(room_id)


# -- the running loop's service -------------------------------------------------------------------

_services: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SeatService] = weakref.WeakKeyDictionary()


def build_seat_service(config: AppConfig, redis: Any, emit: Emit) -> SeatService:
    authority = RoomAuthority(laravel_client(), owner_ttl_seconds=config.SEAT_OWNER_CACHE_TTL_MS / 1000,
                              role_ttl_seconds=config.SEAT_ROLE_CACHE_TTL_MS / 1000,
                              timeout_seconds=config.SEAT_AUTH_TIMEOUT_MS / 1000)
    repo = SeatRepository(redis, default_seat_count=config.DEFAULT_SEAT_COUNT,
                          invite_ttl_ms=config.SEAT_INVITE_TTL_MS)
    return SeatService(repo, authority, emit=emit)


# The last loop asked about and its service: a web process has one loop, so most calls skip the
# WeakKeyDictionary lookup (a weak reference made per call; 2% of a seats load's profile).
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], SeatService] | None = None


def seat_service() -> SeatService:
    global _last
    loop = asyncio.get_running_loop()
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    service = _services.get(loop)
    if service is None:
        from apps.realtime.emit import emit
        from apps.realtime.loop_services import get_redis

        service = _services[loop] = build_seat_service(get_config(), get_redis(), emit)
    _last = (weakref.ref(loop), service)
    return service


def use_seat_service(service: SeatService) -> None:
    """Make `service` the running loop's (tests)."""
    global _last
    _services[asyncio.get_running_loop()] = service
    _last = None

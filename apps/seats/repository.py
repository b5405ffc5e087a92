"""Redis access for seats and invites: every multi-step change is one Lua script (lua/),
registered once and called by SHA (redis-py reloads a script by itself when Redis answers
NOSCRIPT, after a restart or SCRIPT FLUSH). Keys are in keys.py.

A script answers `{1, ...}` on success or `{0, "<contract error text>"}`; the latter is
raised as SeatError, a ClientError, so the dispatch layer acks the text as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from apps.realtime.event_registry import ClientError
from apps.seats import keys
from apps.seats.schemas import SeatView
from flylive.js_number import js_number
from flylive.lua_scripts import lua_text, zrem_if_score_script
from flylive.redis_batch import BatchedScript
from flylive.redis_types import AsyncPipeline, AsyncRedis, ReplyReader
from flylive.redis_values import as_text

LUA_DIR = Path(__file__).resolve().parent / "lua"
_PRELUDE = "_seat_common.lua"
INVITE_TTL_MS = 30_000  # contract 5.5 (SEAT_INVITE_TTL_MS)


class SeatError(ClientError):
    """A seat operation refused with the contract's text ("Seat is locked", ...)."""


def lua_source(name: str) -> str:
    return lua_text(LUA_DIR, name, prelude=_PRELUDE)


def _user_id(raw: Any) -> int | float | None:
    """A user id as stored (JS-formatted string) back to a number."""
    try:
        number = float(as_text(raw))
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _checked(reply: list[Any]) -> list[Any]:
    if int(reply[0]) != 1:
        raise SeatError(as_text(reply[1]))
    return reply


@dataclass(frozen=True)
class Moved:
    """A user now sits on `index`; `previous` is the seat they left (-1: none)."""

    index: int
    previous: int


@dataclass(frozen=True)
class Assigned(Moved):
    evicted: int | float | None  # the user who sat there before, if another


@dataclass(frozen=True)
class Accepted(Moved):
    unlocked: bool  # the seat was locked; accepting unlocked it


@dataclass(frozen=True)
class DueInvite:
    """An entry of the invite expiry index: the room's seat, and its score (expiry ms) as read."""

    room_id: str
    index: int
    score: float


@dataclass(frozen=True)
class ExpiredInvite:
    settled: bool  # the entry is done with: expired by this call, or nothing was pending
    target: int | float | None  # the invitee, only for the one call that expired it


@dataclass(frozen=True)
class RoomSeats:
    seats: list[SeatView]  # occupied seats, ascending index
    locked: list[int]  # ascending


def _room_seats(raw_seats: dict[Any, Any], raw_locked: set[Any]) -> RoomSeats:
    """Occupied seats (by index) and locked indices, from HGETALL seats and SMEMBERS locked."""
    seats: list[SeatView] = []
    for field, raw in raw_seats.items():
        try:
            index, entry = int(as_text(field)), json.loads(raw)
        except ValueError:
            continue
        user_id = _user_id(entry.get("userId")) if isinstance(entry, dict) else None
        if user_id is not None:
            seats.append({"seatIndex": index, "userId": user_id, "isMuted": bool(entry.get("muted"))})
    seats.sort(key=lambda seat: seat["seatIndex"])
    locked = sorted(int(as_text(i)) for i in raw_locked if as_text(i).isdigit())
    return RoomSeats(seats, locked)


class SeatRepository:
    def __init__(self, redis: AsyncRedis, *, default_seat_count: int,
                 invite_ttl_ms: int = INVITE_TTL_MS) -> None:
        self.redis = redis
        self.default_seat_count = default_seat_count
        self.invite_ttl_ms = invite_ttl_ms
        self._take = self._script("seat_take.lua")
        self._leave = self._script("seat_leave.lua")
        self._assign = self._script("seat_assign.lua")
        self._mute = self._script("seat_mute.lua")
        self._lock = self._script("seat_lock.lua")
        self._unlock = self._script("seat_unlock.lua")
        self._invite = self._script("invite_create.lua")
        self._answer = self._script("invite_answer.lua")
        self._expire = self._script("invite_expire.lua")
        self._forget = self._script("seats_forget_room.lua")
        self._zrem_if_score = zrem_if_score_script(redis)

    def _script(self, name: str) -> BatchedScript:
        """Seat scripts go through the loop's auto-pipeline: a busy room's concurrent seat events
        share round trips (flylive/redis_batch.py)."""
        return BatchedScript(self.redis, self.redis.register_script(lua_source(name)))

    def _seat_keys(self, room_id: str) -> list[str]:
        return [keys.seats_key(room_id), keys.seat_of_key(room_id), keys.locked_seats_key(room_id),
                keys.seat_count_key(room_id)]

    def _invite_keys(self, room_id: str, index: int) -> list[str]:
        return [keys.invite_key(room_id, index), keys.invite_targets_key(room_id),
                keys.invitee_seats_key(room_id), keys.room_invites_index_key(room_id)]

    # -- seats ----------------------------------------------------------------------------------

    async def open_room(self, room_id: str, seat_count: int) -> None:
        """A new session of the room: no seats, locks or invites; `seat_count` seats."""
        await self._forget(keys=self._room_keys(room_id), args=[seat_count])

    async def take(self, room_id: str, user_id: int | float, index: int) -> Moved:
        reply = _checked(await self._take(keys=self._seat_keys(room_id),
                                          args=[js_number(user_id), index, self.default_seat_count]))
        return Moved(index, int(reply[1]))

    async def leave(self, room_id: str, user_id: int | float) -> int:
        """Free the user's seat; its index. SeatError("You are not seated") when none."""
        reply = _checked(await self._leave(keys=self._seat_keys(room_id)[:2], args=[js_number(user_id)]))
        return int(reply[1])

    async def assign(self, room_id: str, user_id: int | float, index: int) -> Assigned:
        reply = _checked(await self._assign(keys=self._seat_keys(room_id),
                                            args=[js_number(user_id), index, self.default_seat_count]))
        evicted = _user_id(reply[2]) if as_text(reply[2]) else None
        return Assigned(index, int(reply[1]), evicted)

    async def set_muted(self, room_id: str, user_id: int | float, muted: bool) -> int:
        """The user's seat index. SeatError("User is not seated") when none."""
        reply = _checked(await self._mute(keys=self._seat_keys(room_id)[:2],
                                          args=[js_number(user_id), "1" if muted else "0"]))
        return int(reply[1])

    async def lock(self, room_id: str, index: int) -> int | float | None:
        """Lock the seat; the user it kicked, if any."""
        reply = _checked(await self._lock(keys=self._seat_keys(room_id),
                                          args=[index, self.default_seat_count]))
        return _user_id(reply[1]) if as_text(reply[1]) else None

    async def unlock(self, room_id: str, index: int) -> None:
        seat_keys = self._seat_keys(room_id)
        _checked(await self._unlock(keys=[seat_keys[2], seat_keys[3]], args=[index, self.default_seat_count]))

    async def room_seats(self, room_id: str) -> RoomSeats:
        """Occupied seats and locks, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            read = self.queue_room_seats(pipe, room_id)
            return read(iter(await pipe.execute()))

    def queue_room_seats(self, pipe: AsyncPipeline, room_id: str) -> ReplyReader[RoomSeats]:
        """`room_seats` queued on the caller's pipeline (the room join's round trip)."""
        pipe.hgetall(keys.seats_key(room_id))
        pipe.smembers(keys.locked_seats_key(room_id))
        return lambda replies: _room_seats(next(replies), next(replies))

    # -- invites --------------------------------------------------------------------------------

    async def invite(self, room_id: str, index: int, target: int | float, inviter: int | float,
                     *, now_ms: int) -> int:
        """A pending invite; its expiry (ms epoch), also its score in the global expiry index
        (written right after the room's script: another Cluster slot)."""
        _checked(await self._invite(
            keys=[keys.seats_key(room_id), keys.seat_count_key(room_id), *self._invite_keys(room_id, index)],
            args=[index, js_number(target), js_number(inviter), now_ms, self.invite_ttl_ms,
                  self.default_seat_count]))
        expires_at = now_ms + self.invite_ttl_ms
        await self.redis.zadd(keys.INVITE_EXPIRY_KEY, {keys.expiry_member(room_id, index): expires_at})
        return expires_at

    async def pending_invite_seats(self, room_id: str, user_id: int | float) -> list[int]:
        """The seats the user is invited to, from the reverse index (O(1))."""
        raw = await self.redis.hget(keys.invitee_seats_key(room_id), js_number(user_id))
        return sorted(int(part) for part in as_text(raw).split(",") if part.isdigit()) if raw else []

    async def answer_invite(self, room_id: str, user_id: int | float, index: int, *,
                            accept: bool) -> Accepted:
        reply = _checked(await self._answer(
            keys=[*self._seat_keys(room_id), *self._invite_keys(room_id, index)],
            args=[js_number(user_id), index, "accept" if accept else "decline", self.default_seat_count]))
        if (created_at := int(reply[3])) >= 0:  # its expiry entry, unless a newer invite rewrote it
            entry: list[str | int] = [keys.expiry_member(room_id, index), created_at + self.invite_ttl_ms]
            await self._zrem_if_score(keys=[keys.INVITE_EXPIRY_KEY], args=entry)
        return Accepted(index, int(reply[1]), bool(int(reply[2])))

    async def due_invites(self, now_ms: int, limit: int) -> list[DueInvite]:
        """Entries of the expiry index whose time has come, oldest first."""
        entries = cast(list[tuple[str | bytes, float]], await self.redis.zrangebyscore(
            keys.INVITE_EXPIRY_KEY, "-inf", now_ms, start=0, num=limit, withscores=True))
        due = []
        for member, score in entries:
            parsed = keys.parse_expiry_member(as_text(member))
            if parsed is not None:
                due.append(DueInvite(parsed[0], parsed[1], float(score)))
        return due

    async def expire_invite(self, due: DueInvite, *, now_ms: int) -> ExpiredInvite:
        """Expire the invite if still pending; its target only for the one caller that did. The
        entry leaves the index unless it was rewritten since it was read (a newer invite)."""
        reply = await self._expire(keys=self._invite_keys(due.room_id, due.index),
                                   args=[due.index, now_ms, self.invite_ttl_ms])
        outcome = int(reply[0])
        if outcome != 0:
            await self._zrem_if_score(keys=[keys.INVITE_EXPIRY_KEY],
                                      args=[keys.expiry_member(due.room_id, due.index), due.score])
        return ExpiredInvite(outcome != 0, _user_id(reply[1]) if outcome == 1 else None)

    async def forget_room(self, room_id: str) -> None:
        """Delete every seat, lock and invite of the room (it closed)."""
        await self._forget(keys=self._room_keys(room_id), args=[""])

    def _room_keys(self, room_id: str) -> list[str]:
        return [*self._seat_keys(room_id), keys.invite_targets_key(room_id), keys.invitee_seats_key(room_id),
                keys.room_invites_index_key(room_id)]

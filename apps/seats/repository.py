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
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from apps.realtime.event_registry import ClientError
from apps.seats import keys
from apps.seats.schemas import SeatView
from flylive.js_number import js_number
from flylive.lua_scripts import lua_text
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
class RoomSeats:
    seats: list[SeatView]  # occupied seats, ascending index
    locked: list[int]  # ascending


class SeatRepository:
    def __init__(self, redis: Redis, *, default_seat_count: int, invite_ttl_ms: int = INVITE_TTL_MS) -> None:
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

    def _script(self, name: str) -> AsyncScript:
        return self.redis.register_script(lua_source(name))

    def _seat_keys(self, room_id: str) -> list[str]:
        return [keys.seats_key(room_id), keys.seat_of_key(room_id), keys.locked_seats_key(room_id),
                keys.seat_count_key(room_id)]

    def _invite_keys(self, room_id: str, index: int) -> list[str]:
        return [keys.invite_key(room_id, index), keys.invite_targets_key(room_id),
                keys.invitee_seats_key(room_id), keys.room_invites_index_key(room_id)]

    # -- seats ----------------------------------------------------------------------------------

    async def open_room(self, room_id: str, seat_count: int) -> None:
        """A new session of the room: no seats, locks or invites; `seat_count` seats."""
        await self._forget(keys=self._room_keys(room_id), args=[room_id, seat_count])

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
            pipe.hgetall(keys.seats_key(room_id))
            pipe.smembers(keys.locked_seats_key(room_id))
            raw_seats, raw_locked = await pipe.execute()
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

    # -- invites --------------------------------------------------------------------------------

    async def invite(self, room_id: str, index: int, target: int | float, inviter: int | float,
                     *, now_ms: int) -> int:
        """A pending invite; its expiry (ms epoch)."""
        _checked(await self._invite(
            keys=[keys.seats_key(room_id), keys.seat_count_key(room_id), *self._invite_keys(room_id, index),
                  keys.INVITE_EXPIRY_KEY],
            args=[index, js_number(target), js_number(inviter), now_ms, self.invite_ttl_ms,
                  self.default_seat_count, keys.expiry_member(room_id, index)]))
        return now_ms + self.invite_ttl_ms

    async def pending_invite_seats(self, room_id: str, user_id: int | float) -> list[int]:
        """The seats the user is invited to, from the reverse index (O(1))."""
        raw = await self.redis.hget(keys.invitee_seats_key(room_id), js_number(user_id))
        return sorted(int(part) for part in as_text(raw).split(",") if part.isdigit()) if raw else []

    async def answer_invite(self, room_id: str, user_id: int | float, index: int, *,
                            accept: bool) -> Accepted:
        reply = _checked(await self._answer(
            keys=[*self._seat_keys(room_id), *self._invite_keys(room_id, index), keys.INVITE_EXPIRY_KEY],
            args=[js_number(user_id), index, "accept" if accept else "decline", self.default_seat_count,
                  keys.expiry_member(room_id, index)]))
        return Accepted(index, int(reply[1]), bool(int(reply[2])))

    async def due_invites(self, now_ms: int, limit: int) -> list[tuple[str, int]]:
        """(room, seat) of invites whose time has come, oldest first."""
        members = await self.redis.zrangebyscore(keys.INVITE_EXPIRY_KEY, "-inf", now_ms, start=0, num=limit)
        texts = [as_text(m) for m in members if isinstance(m, str | bytes)]
        return [parsed for m in texts if (parsed := keys.parse_expiry_member(m)) is not None]

    async def expire_invite(self, room_id: str, index: int, *, now_ms: int) -> int | float | None:
        """Expire the invite if due and still pending; its target (only for the one caller that did)."""
        target = await self._expire(
            keys=[keys.INVITE_EXPIRY_KEY, *self._invite_keys(room_id, index)],
            args=[keys.expiry_member(room_id, index), index, now_ms])
        return _user_id(target) if target else None

    async def forget_room(self, room_id: str) -> None:
        """Delete every seat, lock and invite of the room (it closed)."""
        await self._forget(keys=self._room_keys(room_id), args=[room_id, ""])

    def _room_keys(self, room_id: str) -> list[str]:
        return [*self._seat_keys(room_id), keys.invite_targets_key(room_id), keys.invitee_seats_key(room_id),
                keys.room_invites_index_key(room_id), keys.INVITE_EXPIRY_KEY]

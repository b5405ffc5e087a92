"""Redis access for rooms: the Lua scripts (registered once, called by SHA) and reads.

Shared state, so any web process can serve any room:
- `room:state:{roomId}`          JSON of contract 6.1; participantCount = members' size.
- `room:{roomId}:members`        hash sid -> JSON participant entry (one per socket).
- `room:{roomId}:member_users`   hash user id -> sockets of that user in the room.
- `room:{roomId}:activity`       ms timestamp, PX ROOM_INACTIVITY_TIMEOUT_MS.
- `room:{roomId}:closing`        held while a close of the room runs (joins wait).
- `rooms:active`                 sorted set of every room with state (no SCAN anywhere).
- `user:{userId}:room`           room id, 86400 s.
The room id is every room key's hash tag (one Cluster slot per room, so each script is
atomic); the index and the user pointers are written in the same round trip, not atomically
(docs/redis-keys.md says what that allows).
Read only: `room:{roomId}:producers` (media service). Seats, locks and invites are the
seats app's (its service functions, never its keys).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from redis.commands.core import AsyncScript

from apps.realtime.codec import loads
from apps.rooms import keys
from apps.rooms.schemas import ParticipantEntry, ProducerView
from apps.rooms.session_history import session_key
from apps.users.keys import USER_KEY_TTL_SECONDS, user_room_key, user_sockets_key
from flylive.js_number import js_number
from flylive.lua_scripts import lua_text, queue_script, zrem_if_score_script
from flylive.redis_batch import BatchedScript
from flylive.redis_types import AsyncRedis, QueueReads
from flylive.redis_values import as_text

LUA_DIR = Path(__file__).resolve().parent / "lua"
# Shared local functions, prepended to the scripts that call them.
_PRELUDES = {"encode_room_state": "_room_state_codec.lua"}


def lua_source(name: str) -> str:
    """A script's text, after the preludes of the shared functions it calls."""
    body = lua_text(LUA_DIR, name)
    used = [lua_text(LUA_DIR, prelude) for function, prelude in _PRELUDES.items() if f"{function}(" in body]
    return "\n".join([*used, body])


@dataclass(frozen=True)
class RoomSnapshot:
    # sid -> the member's participant entry as stored (JSON text: the join ack embeds it as is).
    raw_members: dict[str, str]
    producers: list[ProducerView]

    @property
    def members(self) -> dict[str, ParticipantEntry]:
        """The entries decoded (those that do not decode are left out)."""
        members: dict[str, ParticipantEntry] = {}
        for sid, raw in self.raw_members.items():
            try:
                members[sid] = loads(raw)
            except ValueError:
                continue
        return members


@dataclass(frozen=True)
class JoinResult:
    created: bool  # this join created `room:state:{roomId}`
    new_member: bool  # False when the socket was already in the room (re-join)
    participant_count: int
    closing: bool = False  # refused: a close of the room is running; nothing was written
    # Members (this socket included) and producers as of the join, read atomically with it.
    snapshot: RoomSnapshot = RoomSnapshot({}, [])
    # This new member's number in the room's join order (0: not a new member); see room_join.lua.
    join_seq: int = 0
    # The room's session history started with this join, under this id (session_history.py),
    # at `at_ms` (the join's time).
    session_id: str | None = None
    at_ms: int = 0


@dataclass(frozen=True)
class ClosedRoom:
    """This caller won the room's close; `users` were its member users (JS formatted ids)."""

    room_id: str
    users: list[str]
    closing_token: str


@dataclass(frozen=True)
class RoomActivity:
    """What the auto-close pass reads about one room."""

    room_id: str
    has_activity: bool
    member_count: int

    @property
    def idle(self) -> bool:
        return not self.has_activity and self.member_count == 0


@dataclass(frozen=True)
class LeaveResult:
    was_member: bool
    participant_count: int
    state_existed: bool  # contract 6.3: a missing state means no status update
    user_left_room: bool  # the user's last socket in the room went away


def initial_state_json(room_id: str, now_ms: int) -> str:
    """`room:state:{roomId}` as the baseline's JSON.stringify writes it (6.1)."""
    state = {
        "id": room_id, "status": "ACTIVE", "participantCount": 0, "seatCount": 15,
        "createdAt": now_ms, "lastActivityAt": now_ms, "speakers": [],
    }
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False)


def _member_json(entry: ParticipantEntry) -> str:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def _parse_user_id(raw: Any) -> int | float | None:
    """A user id stored as a JS-formatted string or a number."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return raw
    if isinstance(raw, dict):
        return _parse_user_id(raw.get("userId"))
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _flat_pairs(reply: Any) -> dict[Any, Any]:
    """A Lua HGETALL reply (flat list: field, value, ...) as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True)) if reply else {}


def _snapshot(raw_members: dict[Any, Any], raw_producers: dict[Any, Any]) -> RoomSnapshot:
    members = {as_text(sid): as_text(raw) for sid, raw in raw_members.items()}
    producers: list[ProducerView] = []
    for producer_id, raw in raw_producers.items():
        value: Any = as_text(raw)
        if value.startswith("{"):
            value = loads(value)
        user_id = _parse_user_id(value)
        if user_id is not None:
            producers.append({"producerId": as_text(producer_id), "userId": user_id})
    return RoomSnapshot(members, producers)


class RoomRepository:
    def __init__(self, redis: AsyncRedis) -> None:
        self.redis = redis
        self._join = self._script("room_join.lua")
        self._leave = BatchedScript(redis, self._script("room_leave.lua"))  # concurrent leaves share trips
        self._close = self._script("room_close.lua")
        self._keep_alive = self._script("room_keep_alive.lua")
        self._delete_if_value = self._script("delete_if_value.lua")
        self._zrem_if_score = zrem_if_score_script(redis)

    def _script(self, name: str) -> AsyncScript:
        return self.redis.register_script(lua_source(name))

    async def join(self, room_id: str, sid: str, user_id: int | float, entry: ParticipantEntry,
                   *, now_ms: int, activity_ttl_ms: int, before: Sequence[QueueReads] = (),
                   after: Sequence[QueueReads] = ()) -> tuple[JoinResult, list[Any]]:
        """The join script on the room's keys, then (same round trip, other Cluster slots) the
        user's room pointer and the room's `rooms:active` entry. Those two are written even
        when the script refuses a closing room: the caller's retry rewrites them once the close
        is over; a pointer is only believed while the user is a member (`get_user_room`), and
        a stale index entry is dropped by the next auto-close pass.

        Other apps' commands share the round trip: `before` are queued ahead of the join's,
        `after` behind them; the result comes with what each of `after` read."""
        session_id = str(uuid.uuid4())  # the room's session history's, if this join starts one
        async with self.redis.pipeline(transaction=False) as pipe:
            readers_before = [queue(pipe) for queue in before]
            queue_script(pipe, self._join,
                         [keys.state_key(room_id), keys.members_key(room_id), keys.member_users_key(room_id),
                          keys.activity_key(room_id), keys.closing_key(room_id), keys.producers_key(room_id),
                          keys.join_seq_key(room_id), session_key(room_id)],
                         [sid, js_number(user_id), _member_json(entry), initial_state_json(room_id, now_ms),
                          now_ms, activity_ttl_ms, keys.ROOM_STATE_TTL_SECONDS, session_id,
                          keys.ROOM_STATE_TTL_SECONDS])
            pipe.set(user_room_key(user_id), room_id, ex=USER_KEY_TTL_SECONDS)
            pipe.zadd(keys.ACTIVE_ROOMS_KEY, {room_id: now_ms})
            readers_after = [queue(pipe) for queue in after]
            replies = iter(await pipe.execute())
        for read in readers_before:
            read(replies)
        (created, new_member, count, *views), _, _ = next(replies), next(replies), next(replies)
        extra = [read(replies) for read in readers_after]
        if int(created) < 0:
            return JoinResult(False, False, 0, closing=True), extra
        seq, raw_members, raw_producers, started = views
        return JoinResult(bool(created), bool(new_member), int(count),
                          snapshot=_snapshot(_flat_pairs(raw_members), _flat_pairs(raw_producers)),
                          join_seq=int(seq), session_id=session_id if int(started) else None,
                          at_ms=now_ms), extra

    async def leave(self, room_id: str, sid: str, user_id: int | float, *, now_ms: int) -> LeaveResult:
        """The leave script on the room's keys. The user's room pointer (another Cluster slot)
        is left to expire: `get_user_room` believes it only while the user is a member."""
        was_member, count, existed, user_left = await self._leave(
            keys=[keys.state_key(room_id), keys.members_key(room_id), keys.member_users_key(room_id)],
            args=[sid, js_number(user_id), now_ms, keys.ROOM_STATE_TTL_SECONDS],
        )
        return LeaveResult(bool(was_member), int(count), bool(existed), bool(user_left))

    async def snapshot(self, room_id: str) -> RoomSnapshot:
        """Members and producers of a room, read in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.members_key(room_id))
            pipe.hgetall(keys.producers_key(room_id))
            raw_members, raw_producers = await pipe.execute()
        return _snapshot(raw_members, raw_producers)

    async def touch_activity(self, room_id: str, *, now_ms: int, ttl_ms: int) -> None:
        """`room:{roomId}:activity`: the room showed life; auto-close spares it for `ttl_ms`."""
        await self.redis.set(keys.activity_key(room_id), now_ms, px=ttl_ms)

    async def member_sids(self, room_id: str) -> list[str]:
        return [as_text(sid) for sid in await self.redis.hkeys(keys.members_key(room_id))]

    async def is_member(self, room_id: str, sid: str) -> bool:
        return bool(await self.redis.hexists(keys.members_key(room_id), sid))

    async def get_state(self, room_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(keys.state_key(room_id))
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    async def get_user_room(self, user_id: int | float) -> str | None:
        """The room the user's pointer names, while the user is still one of its members (the
        pointer is written with each join and never deleted on the way out: it would be another
        Cluster slot than the room's, so it is checked here instead)."""
        raw = await self.redis.get(user_room_key(user_id))
        if raw is None:
            return None
        room_id = as_text(raw)
        member = await self.redis.hexists(keys.member_users_key(room_id), js_number(user_id))
        return room_id if member else None

    async def claim_close(self, room_id: str, *, only_if_idle: bool, closing_ttl_ms: int,
                          index_score: float | None = None) -> ClosedRoom | None:
        """Close the room's shared state if this caller wins the close (see room_close.lua).

        Deletes state, membership and activity and sets the `closing` marker; None when another
        caller closed it, it is not open, or (`only_if_idle`) it has members or a fresh activity mark.
        A room that is not open while its `rooms:active` entry still has `index_score` (the
        score the caller read) was left in the index by a write that did not complete: the
        entry is dropped.
        """
        token = secrets.token_hex(12)
        reply = await self._close(
            keys=[keys.state_key(room_id), keys.members_key(room_id), keys.member_users_key(room_id),
                  keys.activity_key(room_id), keys.closing_key(room_id), keys.join_seq_key(room_id)],
            args=["1" if only_if_idle else "0", token, closing_ttl_ms],
        )
        outcome = int(reply[0]) if reply else 0
        if outcome == 2 and index_score is not None:
            await self._zrem_if_score(keys=[keys.ACTIVE_ROOMS_KEY], args=[room_id, index_score])
        if outcome != 1:
            return None
        return ClosedRoom(room_id, [as_text(u) for u in reply[1]], token)

    async def finish_close(self, closed: ClosedRoom) -> None:
        """After the close was announced: drop the room from `rooms:active` (another Cluster
        slot) and the `closing` marker, in one round trip. The members' `user:{id}:room`
        pointers name a room they are no longer members of, which `get_user_room` ignores."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.ACTIVE_ROOMS_KEY, closed.room_id)
            queue_script(pipe, self._delete_if_value, [keys.closing_key(closed.room_id)],
                         [closed.closing_token])
            await pipe.execute()

    async def active_room_ids(self, *, start: int = 0, stop: int = -1) -> list[str]:
        """Rooms with state, from the `rooms:active` index (oldest join first; no SCAN)."""
        return [room_id for room_id, _ in await self.active_rooms(start=start, stop=stop)]

    async def active_rooms(self, *, start: int = 0, stop: int = -1) -> list[tuple[str, float]]:
        """`rooms:active` entries as (room id, score: ms of the room's latest join)."""
        entries = cast(list[tuple[str | bytes, float]],
                       await self.redis.zrange(keys.ACTIVE_ROOMS_KEY, start, stop, withscores=True))
        return [(as_text(room_id), float(score)) for room_id, score in entries]

    async def active_room_count(self) -> int:
        return int(await self.redis.zcard(keys.ACTIVE_ROOMS_KEY))

    async def read_activity(self, room_ids: list[str]) -> list[RoomActivity]:
        """Activity mark and member count of each room, in one round trip for all of them."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.exists(keys.activity_key(room_id))
                pipe.hlen(keys.members_key(room_id))
            replies = await pipe.execute()
        return [RoomActivity(room_id, bool(replies[2 * i]), int(replies[2 * i + 1]))
                for i, room_id in enumerate(room_ids)]

    async def keep_alive(self, room_ids: list[str]) -> int:
        """Reset the 24 h TTLs of live rooms' records that are past half their TTL, then those of
        their member users' pointer and socket set (two round trips for all rooms: the users'
        keys are other Cluster slots); how many rooms were refreshed. A pointer renewed while it
        names another room only lives on as that room's."""
        if not room_ids:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                queue_script(pipe, self._keep_alive,
                             [keys.state_key(room_id), keys.members_key(room_id),
                              keys.member_users_key(room_id), keys.join_seq_key(room_id)],
                             [keys.ROOM_STATE_TTL_SECONDS])
            replies = await pipe.execute()
        refreshed = [reply for reply in replies if int(reply[0]) == 1]
        users = {as_text(uid) for reply in refreshed for uid in reply[1]}
        if users:
            async with self.redis.pipeline(transaction=False) as pipe:
                for uid in users:
                    pipe.expire(user_room_key(uid), USER_KEY_TTL_SECONDS)
                    pipe.expire(user_sockets_key(uid), USER_KEY_TTL_SECONDS)
                await pipe.execute()
        return len(refreshed)

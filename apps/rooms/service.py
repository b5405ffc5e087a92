"""Room membership and lifecycle: join, leave, disconnect cleanup, close (contract 2.1, 2.2, 6).

Membership is shared state in Redis (see repository.py), so any web process can
serve any room and every process sees the same participants and counts.

Decisions (fixes over the baseline, wire shapes unchanged):
- Each socket is a participant: a user with two sockets in a room is listed twice
  and counted twice. The user's seat and `user:{id}:room` belong to the user, so
  they are released, and `room:userLeft` is sent, only when the user's last socket
  leaves the room. `room:userJoined` is sent for every socket that joins.
- The count is the size of the members hash, updated in the same Lua script as
  the membership: leave-then-disconnect, double join and double leave count once.
- Joining another room first leaves the current one fully; `room:leave` of a room
  the socket is not in is ignored; joining the same room again only re-reads it.
- A disconnect also reports the new count to Laravel (the baseline did not, which
  left Laravel's count stale).
- A room closes in one place (`RoomService.close_room` / `close_idle_room`), exactly once
  across processes, from whichever process asks (auto-close in Celery, a lost media node,
  staff), and it deletes the state first: sockets are told after the state is gone, and a
  join racing the close waits for it and lands in a fresh room (see `_close`).

Other apps call: `close_room`, `get_user_room`, `room_member_sids`, `is_room_member`,
`forced_out` (realtime consumer, on `room.force_leave`). Join and leave hooks are
registered with realtime's `@on_room_join` / `@on_room_leave` (media closes the socket's
transports for that room there) and run here; `@on_room_closed` hooks run on every close.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from apps.integrations.laravel_client import LaravelClient, iso_now, laravel_client
from apps.realtime.codec import RawJson, dumps, loads
from apps.realtime.emit import Room, Target
from apps.realtime.event_registry import (
    ROOM_JOIN_HOOKS,
    ROOM_LEAVE_HOOKS,
    RoomHook,
    SocketSession,
)
from apps.realtime.web_instance import queue_socket_room
from apps.rooms.repository import JoinResult, RoomRepository
from apps.rooms.schemas import MAX_SEAT_COUNT, ProducerView, RoomJoinAck, participant_entry
from apps.rooms.session_history import session_history
from apps.rooms.status_reporter import RoomStatus, RoomStatusReporter
from apps.seats.repository import RoomSeats as SeatsOfRoom
from apps.seats.service import build_seat_service, seat_service
from flylive.config import get_config
from flylive.js_number import js_number
from flylive.redis_types import AsyncPipeline, ReplyReader

logger = logging.getLogger(__name__)

# Internal channel-layer message sent to a room's group when the room closes; the
# realtime consumer answers it by leaving the group and calling `forced_out`.
FORCE_LEAVE_MESSAGE_TYPE = "room.force_leave"

Emit = Callable[[Target, str, Any], Awaitable[None]]
EnsureMedia = Callable[[str], Awaitable[dict[str, Any]]]
GroupSend = Callable[[str, dict[str, Any]], Awaitable[None]]
ReleaseMedia = Callable[[str, str], Awaitable[None]]

# How long a close may hold joins off (its `closing` marker's TTL, so a closer that died
# frees the room): the close awaits Laravel, bounded by LARAVEL_API_TIMEOUT_MS, plus margin.
CLOSING_MARGIN_MS = 5000
# A join that meets a running close re-tries this often.
JOIN_RETRY_WHILE_CLOSING_SECONDS = 0.05
# The seats of a room whose session opens now (its seats were just cleared).
EMPTY_SEATS = SeatsOfRoom([], [])


RoomClosedHook = Callable[[str], Awaitable[None]]
# Run by every close, after the claim (the room's state is gone and joins wait): other
# domains forget what they keep about the room (seats: its seat_of, counts, invite hashes).
ROOM_CLOSED_HOOKS: list[RoomClosedHook] = []


def on_room_closed(hook: RoomClosedHook) -> RoomClosedHook:
    """Register `async def hook(room_id)` to run when a room closes (any process, once)."""
    ROOM_CLOSED_HOOKS.append(hook)
    return hook


class RoomSeats(Protocol):
    """What rooms need from the seats app (apps.seats.service.SeatService)."""

    async def room_seats(self, room_id: str) -> SeatsOfRoom: ...

    def queue_room_seats(self, pipe: AsyncPipeline, room_id: str) -> ReplyReader[SeatsOfRoom]: ...

    async def open_room(self, room_id: str, seat_count: int) -> None: ...

    async def vacate(self, room_id: str, user_id: int | float) -> int | None: ...

    async def forget_room(self, room_id: str) -> None: ...


class RoomSocket(Protocol):
    """What join/leave need from the acting socket (the dispatch layer's EventContext)."""

    @property
    def session(self) -> SocketSession: ...

    async def join_room_group(self, room_id: str) -> None: ...

    def room_joined(self, join_seq: int) -> None: ...

    async def leave_room_group(self, room_id: str) -> None: ...


_ENTRY_PREFIX = '{"id":'


def participants_json(raw_members: dict[str, str], own_sid: str, speaking: set[Any]) -> RawJson:
    """The join ack's `participants`: every other member's entry as stored, joined into one JSON
    array that the ack embeds as is (codec.RawJson). A room's join ack lists every member, so
    decoding and encoding each entry per join was most of filling a large room. Entries are
    written `{"id":<id>,...,"isSpeaker":false}` by the join; a speaker's (found by that prefix)
    is decoded and written again with isSpeaker true. Text that is not a JSON object is left out."""
    prefixes = {f"{_ENTRY_PREFIX}{js_number(uid)}," for uid in speaking if isinstance(uid, int | float)}
    entries = [raw for sid, raw in raw_members.items()
               if sid != own_sid and raw[:1] == "{" and raw[-1:] == "}"]
    if prefixes:
        entries = [_as_speaker(raw) if raw[:raw.find(",") + 1] in prefixes else raw for raw in entries]
    return RawJson("[" + ",".join(entry for entry in entries if entry) + "]")


def _as_speaker(raw: str) -> str:
    try:
        entry = loads(raw)
    except ValueError:
        return ""
    if not isinstance(entry, dict):
        return ""
    entry["isSpeaker"] = True
    return dumps(entry)


async def _attempt(step: str, room_id: str, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        logger.exception("closing room %s: %s failed", room_id, step)


async def _run_hooks(kind: str, hooks: list[RoomHook], session: SocketSession, room_id: str) -> None:
    """Each hook runs; one that fails is logged and does not stop the others."""
    for hook in hooks:
        try:
            await hook(session, room_id)
        except Exception:
            logger.exception("room %s hook %s failed for socket %s in room %s",
                             kind, getattr(hook, "__qualname__", hook), session.sid, room_id)


# A room's activity mark is written at most this often per process (its TTL is 30 s by
# default): a busy room's chat or media events do not each cost a Redis write.
ACTIVITY_WRITE_INTERVAL_SECONDS = 1.0
_ACTIVITY_MARKS_PRUNE_AT = 4096


def now_ms() -> int:
    return int(time.time() * 1000)


def _session_lock(session: SocketSession) -> asyncio.Lock:
    """One room operation at a time per socket (join, leave and disconnect never interleave)."""
    state: dict[str, Any] = session.extras.setdefault("rooms", {})
    lock = state.get("lock")
    if lock is None:
        lock = state["lock"] = asyncio.Lock()
    return lock


class RoomService:
    def __init__(self, repo: RoomRepository, *, laravel: LaravelClient, ensure_media: EnsureMedia,
                 emit: Emit, group_send: GroupSend, release_media: ReleaseMedia, activity_ttl_ms: int,
                 closing_ttl_ms: int | None = None,
                 release_empty_room_media: Callable[[str], Awaitable[None]] | None = None,
                 leave_hooks: list[RoomHook] | None = None,
                 join_hooks: list[RoomHook] | None = None,
                 seats: RoomSeats | None = None, default_seat_count: int | None = None) -> None:
        self.repo = repo
        config = get_config()
        self.seats: RoomSeats = seats if seats is not None else build_seat_service(config, repo.redis, emit)
        self.default_seat_count = default_seat_count or config.DEFAULT_SEAT_COUNT
        self.laravel = laravel
        self.ensure_media = ensure_media
        self.emit = emit
        self.group_send = group_send
        self.release_media = release_media  # tells the room's media node to close it (fire and forget)
        # The room's last member left: its routers close now (its Redis state waits for auto-close).
        self.release_empty_room_media = release_empty_room_media
        self._media_releases: set[asyncio.Task[None]] = set()
        self.activity_ttl_ms = activity_ttl_ms
        self.closing_ttl_ms = (closing_ttl_ms if closing_ttl_ms is not None
                               else int(laravel.timeout_seconds * 1000) + CLOSING_MARGIN_MS)
        self.leave_hooks = ROOM_LEAVE_HOOKS if leave_hooks is None else leave_hooks
        self.join_hooks = ROOM_JOIN_HOOKS if join_hooks is None else join_hooks
        self._activity_marks: dict[str, float] = {}  # room id -> monotonic time of the last write
        # Laravel status calls, coalesced per room (the creation call is awaited directly).
        self.status = RoomStatusReporter(self._post_status)

    # -- room:join -------------------------------------------------------------------------

    async def join(self, socket: RoomSocket, room_id: str, seat_count: int | None = None) -> RoomJoinAck:
        """Join `room_id` (leaving the socket's current room first) and build the join ack.
        `seat_count` limits the seats the ack lists; the join that opens the room also makes
        it the room's seat count (default DEFAULT_SEAT_COUNT)."""
        session = socket.session
        # Before anything changes: no media means `Internal server error` and no join.
        rtp_capabilities = await self.ensure_media(room_id)
        async with _session_lock(session):
            if session.room_id is not None and session.room_id != room_id:
                await self._leave_locked(session, session.room_id, socket=socket)
            # Subscribe before becoming visible, so no later joiner's broadcast is missed
            # (new-member announcements are held until the join has numbered this socket).
            # Then one round trip: the socket's room record (for the dead-instance sweep,
            # ahead of the membership), the join script (which also reads the ack's members
            # and producers) and the seats travel in one pipeline.
            try:
                await socket.join_room_group(room_id)
                await self._run_join_hooks(session, room_id)
                joined, seats = await self._join_when_not_closing(session, room_id)
            except BaseException:
                socket.room_joined(session.room_join_seq)
                if session.room_id != room_id:
                    await socket.leave_room_group(room_id)
                raise
            session.room_id = room_id
            socket.room_joined(joined.join_seq if joined.new_member else session.room_join_seq)
            if joined.created:
                await self.seats.open_room(room_id, seat_count or self.default_seat_count)
                seats = EMPTY_SEATS  # as the new session opened them
                # The baseline awaits this one call (bounded by LARAVEL_API_TIMEOUT_MS).
                await self._post_status(room_id, RoomStatus(is_live=True, participant_count=0))
            if joined.new_member:
                count = joined.participant_count
                self.status.report(room_id, RoomStatus(is_live=True, participant_count=count))
                if joined.session_id is not None:
                    session_history(self.repo.redis).started(room_id, joined.session_id, joined.at_ms)
                await self.emit(Room(room_id, exclude_sid=session.sid, new_member_seq=joined.join_seq),
                                "room:userJoined", {"userId": session.user_id, "user": session.user})
        snapshot = joined.snapshot
        speaking = {p["userId"] for p in snapshot.producers}
        participants = participants_json(snapshot.raw_members, session.sid, speaking)
        producers: list[ProducerView] = [p for p in snapshot.producers if p["userId"] != session.user_id]
        return {
            "rtpCapabilities": rtp_capabilities,
            "participants": participants,
            "seats": [seat for seat in seats.seats if seat["seatIndex"] < (seat_count or MAX_SEAT_COUNT)],
            "lockedSeats": seats.locked,
            "existingProducers": producers,
        }

    async def _join_when_not_closing(self, session: SocketSession,
                                     room_id: str) -> tuple[JoinResult, SeatsOfRoom]:
        """The join script, retried while a close of the room is running (its `closing`
        marker): the join then lands in a fresh room once the old one is fully closed. The
        socket's room record goes first and the room's seats are read after, in its round trip."""
        deadline = time.monotonic() + self.closing_ttl_ms / 1000
        while True:
            joined, (seats,) = await self.repo.join(
                room_id, session.sid, session.user_id, participant_entry(session.user), now_ms=now_ms(),
                activity_ttl_ms=self.activity_ttl_ms,
                before=[lambda pipe: queue_socket_room(pipe, session, room_id)],
                after=[lambda pipe: self.seats.queue_room_seats(pipe, room_id)])
            if not joined.closing:
                return joined, cast(SeatsOfRoom, seats)
            if time.monotonic() > deadline:
                raise RuntimeError(f"room {room_id} stayed closing for {self.closing_ttl_ms} ms")
            await asyncio.sleep(JOIN_RETRY_WHILE_CLOSING_SECONDS)

    # -- room:leave, disconnect ------------------------------------------------------------

    async def leave(self, socket: RoomSocket, room_id: str) -> bool:
        """Leave `room_id` fully; ignored (False) unless the socket is in that room."""
        session = socket.session
        async with _session_lock(session):
            if session.room_id != room_id:
                return False
            await self._leave_locked(session, room_id, socket=socket)
            return True

    async def socket_gone(self, session: SocketSession) -> None:
        """Disconnect cleanup (6.4): the socket leaves its room, if it is in one."""
        async with _session_lock(session):
            room_id = session.room_id
            if room_id is not None:
                await self._leave_locked(session, room_id, socket=None)
                if session.instance_id is None:
                    # A sweep of a dead process's socket (maybe a Celery task that returns
                    # right after): the room's new count must reach Laravel before it ends.
                    await self.status.flush(room_id)

    async def _leave_locked(self, session: SocketSession, room_id: str, *, socket: RoomSocket | None) -> None:
        # A Redis failure leaves the session in the room, so the disconnect cleanup retries.
        left = await self.repo.leave(room_id, session.sid, session.user_id, now_ms=now_ms())
        session.room_id = None
        session.room_join_seq = 0
        if socket is not None:
            await socket.leave_room_group(room_id)
        await self._run_leave_hooks(session, room_id)
        if not left.was_member:
            return
        others = Room(room_id, exclude_sid=session.sid)
        if left.user_left_room:
            freed = await self.seats.vacate(room_id, session.user_id)
            if freed is not None:
                await self.emit(others, "seat:cleared", {"seatIndex": freed})
        if left.state_existed:
            count = left.participant_count
            self.status.report(room_id, RoomStatus(is_live=count > 0, participant_count=count))
            if count == 0:
                self._spawn_media_release(room_id)
        if left.user_left_room:
            await self.emit(others, "room:userLeft", {"userId": session.user_id})

    def _spawn_media_release(self, room_id: str) -> None:
        if self.release_empty_room_media is None:
            return

        async def release(work: Awaitable[None]) -> None:
            try:
                await work
            except Exception:
                logger.exception("could not release the media of empty room %s", room_id)

        task = asyncio.create_task(release(self.release_empty_room_media(room_id)))
        self._media_releases.add(task)  # a reference until it is done
        task.add_done_callback(self._media_releases.discard)

    async def _run_join_hooks(self, session: SocketSession, room_id: str) -> None:
        await _run_hooks("join", self.join_hooks, session, room_id)

    async def _run_leave_hooks(self, session: SocketSession, room_id: str) -> None:
        await _run_hooks("leave", self.leave_hooks, session, room_id)

    async def forced_out(self, socket: RoomSocket, room_id: str) -> None:
        """`room.force_leave` reached this socket: the room was closed under it. It stops
        receiving the room's broadcasts and forgets the room, unless it is a member again:
        the close deleted every membership before sending this, so a membership now is a
        join into the fresh room that came after (the message was still in flight)."""
        session = socket.session
        async with _session_lock(session):
            if await self.repo.is_member(room_id, session.sid):
                return
            await socket.leave_room_group(room_id)
            if session.room_id == room_id:
                session.room_id = None
                session.room_join_seq = 0
                await self._run_leave_hooks(session, room_id)

    # -- closing ---------------------------------------------------------------------------

    async def close_room(self, room_id: str, reason: str) -> bool:
        """Close the room whatever its members (a lost media worker or node, staff). True when
        this call closed it; False when it was not open or another process closed it."""
        return await self._close(room_id, reason, only_if_idle=False)

    async def close_idle_room(self, room_id: str, *, index_score: float | None = None) -> bool:
        """Auto-close (6.6): close the room, reason `inactivity`, only if it has no activity mark
        and no members, checked atomically with the close. True when this call closed it.
        `index_score`: the room's `rooms:active` score as read, to drop an entry found stale."""
        return await self._close(room_id, "inactivity", only_if_idle=True, index_score=index_score)

    async def _close(self, room_id: str, reason: str, *, only_if_idle: bool,
                     index_score: float | None = None) -> bool:
        """The one way a room closes (6.5), exactly once across processes:
        1. claim it and delete its state in one script (room_close.lua), which also holds
           joins off (`closing` marker) until the close is complete; other domains' hooks
           (`on_room_closed`) forget their part;
        2. `room:closed` to the room; 3. the group's sockets leave it (`room.force_leave`);
        4. media released on whichever node holds it; 5. Laravel told `{false, 0, ended_at}`,
        and awaited: a Celery task returning early would drop the call, and a join right after
        must reach Laravel after it; 6. member pointers and the marker released.
        Each announcement step is attempted even when an earlier one fails (logged)."""
        closed = await self.repo.claim_close(room_id, only_if_idle=only_if_idle,
                                             closing_ttl_ms=self.closing_ttl_ms, index_score=index_score)
        if closed is None:
            return False
        try:
            await _attempt("seats", room_id, self.seats.forget_room(room_id))
            for hook in ROOM_CLOSED_HOOKS:
                await _attempt(f"hook {getattr(hook, '__qualname__', hook)}", room_id, hook(room_id))
            payload = {"roomId": room_id, "reason": reason, "timestamp": now_ms()}
            await _attempt("room:closed", room_id, self.emit(Room(room_id), "room:closed", payload))
            force_leave = {"type": FORCE_LEAVE_MESSAGE_TYPE, "roomId": room_id, "reason": reason}
            await _attempt("force leave", room_id, self.group_send(room_id, force_leave))
            await _attempt("media release", room_id, self.release_media(room_id, reason))
            self.status.report(room_id, RoomStatus(is_live=False, participant_count=0, ended_at=iso_now()))
            await self.status.flush(room_id)
            # Before finish_close: a join after it may start the room's next session.
            await session_history(self.repo.redis).room_closed(room_id, reason)
        finally:
            await self.repo.finish_close(closed)
        logger.info("room %s closed (%s); it had %d member users", room_id, reason, len(closed.users))
        return True

    # -- activity --------------------------------------------------------------------------

    async def touch_activity(self, room_id: str) -> None:
        """The room showed life (an event of one of its members): auto-close spares it."""
        now = time.monotonic()
        last = self._activity_marks.get(room_id)
        if last is not None and now - last < ACTIVITY_WRITE_INTERVAL_SECONDS:
            return
        if len(self._activity_marks) >= _ACTIVITY_MARKS_PRUNE_AT:
            self._activity_marks = {r: t for r, t in self._activity_marks.items()
                                    if now - t < ACTIVITY_WRITE_INTERVAL_SECONDS}
        self._activity_marks[room_id] = now
        await self.repo.touch_activity(room_id, now_ms=now_ms(), ttl_ms=self.activity_ttl_ms)

    # -- lookups ---------------------------------------------------------------------------

    async def get_user_room(self, user_id: int | float) -> str | None:
        return await self.repo.get_user_room(user_id)

    # -- Laravel, in the background --------------------------------------------------------

    async def _post_status(self, room_id: str, status: RoomStatus) -> None:
        try:
            await self.laravel.post_room_status(room_id, is_live=status.is_live,
                                                participant_count=status.participant_count,
                                                ended_at=status.ended_at)
        except Exception as exc:
            logger.warning("Laravel room status for %s failed: %s", room_id, exc)

    async def drain(self) -> None:
        """Wait for the fire-and-forget calls started so far (Celery tasks, tests, shutdown)."""
        while self.status.pending or self._media_releases:
            await self.status.drain()
            await asyncio.gather(*list(self._media_releases), return_exceptions=True)


# -- the process's service, one per event loop ---------------------------------------------

_services: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomService] = weakref.WeakKeyDictionary()


def _default_service() -> RoomService:
    from channels.layers import get_channel_layer

    from apps.media.gateway import notify_room_closed, release_room_media, rtp_capabilities_for_join
    from apps.realtime.emit import emit, room_group
    from apps.realtime.loop_services import get_redis

    layer = get_channel_layer()

    async def group_send(room_id: str, message: dict[str, Any]) -> None:
        await layer.group_send(room_group(room_id), message)

    return RoomService(RoomRepository(get_redis()), laravel=laravel_client(),
                       ensure_media=rtp_capabilities_for_join,
                       emit=emit, group_send=group_send, release_media=notify_room_closed,
                       release_empty_room_media=release_room_media, seats=seat_service(),
                       activity_ttl_ms=get_config().ROOM_INACTIVITY_TIMEOUT_MS)


def room_service() -> RoomService:
    """The running loop's RoomService."""
    loop = asyncio.get_running_loop()
    service = _services.get(loop)
    if service is None:
        service = _services[loop] = _default_service()
    return service


def use_room_service(service: RoomService) -> None:
    """Make `service` the running loop's RoomService (tests)."""
    _services[asyncio.get_running_loop()] = service


def forget_room_service() -> RoomService | None:
    """Drop the running loop's RoomService (tests); the next call builds the default one."""
    return _services.pop(asyncio.get_running_loop(), None)


async def close_room(room_id: str, reason: str) -> bool:
    """Close a room whatever its members (a lost media worker or node, staff): `room:closed` to
    its sockets, its media released, Laravel told, its state deleted. True when this call closed
    it (exactly one caller does, across processes)."""
    return await room_service().close_room(room_id, reason)


async def get_user_room(user_id: int | float) -> str | None:
    """The room `user:{userId}:room` names, or None."""
    return await room_service().get_user_room(user_id)


async def room_member_sids(room_id: str) -> list[str]:
    """Socket ids of every socket in the room, on any web process."""
    return await room_service().repo.member_sids(room_id)


async def is_room_member(room_id: str, sid: str) -> bool:
    return await room_service().repo.is_member(room_id, sid)


async def forced_out(socket: RoomSocket, room_id: str) -> None:
    """For the realtime consumer on `room.force_leave`."""
    await room_service().forced_out(socket, room_id)

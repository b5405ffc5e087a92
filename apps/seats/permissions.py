"""Who may run a room's seats (contract 5.6, with its fixes): the owner from Laravel, the
admin role from the members endpoint, both cached per process, one combined check.

- Owner: `GET /rooms/{id}` (`owner_id`), cached SEAT_OWNER_CACHE_TTL_MS. The client's
  `ownerId` on room:join grants nothing.
- Role: `GET /rooms/{id}/members/{userId}/role` (404: not a member), cached
  SEAT_ROLE_CACHE_TTL_MS (short: a demoted admin loses the right quickly).
- Concurrent checks that need the same answer share one in-flight request; a warm cache
  answers without HTTP, and a manager check costs at most one call when only the role is
  cold. Failures are not cached.
- Laravel failing or slower than SEAT_AUTH_TIMEOUT_MS answers `Authorization check failed`
  within that time; the shared request goes on for the next caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from apps.integrations.laravel_client import LaravelClient
from apps.realtime.event_registry import ClientError
from flylive.js_number import js_number

logger = logging.getLogger(__name__)

NOT_AUTHORIZED = "Not authorized"
CHECK_FAILED = "Authorization check failed"
MANAGER_ROLES = frozenset({"owner", "admin"})
_MAX_CACHED = 10_000  # entries per cache before expired ones are pruned

T = TypeVar("T")


class _LookupFailed(Exception):
    """Laravel gave no usable answer (error, timeout, bad body)."""


class _TtlCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: Any, value: Any) -> None:
        now = time.monotonic()
        if len(self._entries) >= _MAX_CACHED:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
        self._entries[key] = (now + self.ttl, value)


class RoomAuthority:
    def __init__(self, laravel: LaravelClient, *, owner_ttl_seconds: float, role_ttl_seconds: float,
                 timeout_seconds: float) -> None:
        self.laravel = laravel
        self.timeout = timeout_seconds
        self._owners = _TtlCache(owner_ttl_seconds)
        self._roles = _TtlCache(role_ttl_seconds)
        self._inflight: dict[Any, asyncio.Task[Any]] = {}

    async def require_owner(self, room_id: str, user_id: int | float) -> None:
        """seat:assign, seat:remove."""
        try:
            owner = await self._bounded(self._owner(room_id))
        except _LookupFailed:
            raise ClientError(CHECK_FAILED) from None
        if owner is None or js_number(owner) != js_number(user_id):
            raise ClientError(NOT_AUTHORIZED)

    async def require_manager(self, room_id: str, user_id: int | float) -> None:
        """seat:mute/unmute/lock/unlock/invite: the owner, or a member whose role is admin."""
        known, owner = self._owners.get(room_id)
        if known:
            if owner is not None and js_number(owner) == js_number(user_id):
                return
            try:
                role = await self._bounded(self._role(room_id, user_id))
            except _LookupFailed:
                raise ClientError(CHECK_FAILED) from None
            if role not in MANAGER_ROLES:
                raise ClientError(NOT_AUTHORIZED)
            return
        # Cold owner: ask both at once, so the check costs one Laravel round trip of time.
        owner_task = asyncio.ensure_future(self._owner(room_id))
        role_task = asyncio.ensure_future(self._role(room_id, user_id))
        try:
            async with asyncio.timeout(self.timeout):
                with contextlib.suppress(_LookupFailed):
                    owner = await owner_task
                    if owner is not None and js_number(owner) == js_number(user_id):
                        return
                role = await role_task
        except (_LookupFailed, TimeoutError):
            raise ClientError(CHECK_FAILED) from None
        finally:
            for task in (owner_task, role_task):
                if not task.done():
                    task.cancel()  # only this caller's wait: the shared lookup is shielded
        if role not in MANAGER_ROLES:
            raise ClientError(NOT_AUTHORIZED)

    async def _bounded(self, lookup: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                return await lookup
        except TimeoutError:
            raise _LookupFailed("timed out") from None

    async def _owner(self, room_id: str) -> int | float | None:
        hit, owner = self._owners.get(room_id)
        if hit:
            return owner  # type: ignore[no-any-return]
        return await self._shared(("owner", room_id), lambda: self._fetch_owner(room_id))

    async def _role(self, room_id: str, user_id: int | float) -> str | None:
        key = (room_id, js_number(user_id))
        hit, role = self._roles.get(key)
        if hit:
            return role  # type: ignore[no-any-return]
        return await self._shared(("role", *key), lambda: self._fetch_role(room_id, user_id))

    async def _shared(self, key: Any, fetch: Callable[[], Awaitable[T]]) -> T:
        """One request per key at a time; every concurrent caller awaits the same one."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(fetch())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: a caller that gives up (its timeout) does not cancel the others' request.
        result: T = await asyncio.shield(task)
        return result

    def _finished(self, key: Any, task: asyncio.Task[Any]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here: callers that gave up never will

    async def _fetch_owner(self, room_id: str) -> int | float | None:
        try:
            room = await self.laravel.get_room(room_id)
        except Exception as exc:
            logger.warning("owner lookup of room %s failed: %s", room_id, exc)
            raise _LookupFailed(str(exc)) from None
        owner = room.get("owner_id")
        if isinstance(owner, bool) or not isinstance(owner, int | float) or not math.isfinite(owner):
            logger.warning("room %s: Laravel gave no numeric owner_id", room_id)
            raise _LookupFailed("no numeric owner_id")
        self._owners.put(room_id, owner)
        return owner

    async def _fetch_role(self, room_id: str, user_id: int | float) -> str | None:
        try:
            role = await self.laravel.get_member_role(room_id, user_id)
        except Exception as exc:
            logger.warning("role lookup of user %s in room %s failed: %s", js_number(user_id), room_id, exc)
            raise _LookupFailed(str(exc)) from None
        self._roles.put((room_id, js_number(user_id)), role)
        return role

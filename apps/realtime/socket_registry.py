"""The socket registries in Redis.

- `user:{id}:sockets` (contract 1.6, 6.4, 8.6): the user's sockets, read by `emit(User(...))`
  and by anyone who needs a user's sockets (invites, Laravel events).
- `web:instance:{id}:sockets` / `:rooms` (instance_keys.py): the sockets each web instance
  serves and their rooms, so a sweep can clean up after an instance that died; the instance
  id also goes into `web:instances:recorded`, so records without a live entry are found.

Written here on connect and disconnect (one transaction each) and on room join/leave.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from apps.realtime.instance_keys import RECORDED_INSTANCES_KEY, instance_rooms_key, instance_sockets_key
from apps.users.keys import USER_KEY_TTL_SECONDS, user_sockets_key
from flylive.lua_scripts import lua_text, queue_script
from flylive.redis_types import AsyncPipeline, AsyncRedis, ReplyReader
from flylive.redis_values import as_text

LUA_DIR = Path(__file__).resolve().parent / "lua"

def socket_record(user: Mapping[str, Any]) -> str:
    """What an instance keeps about one socket: enough to rebuild its SocketSession."""
    record = {"userId": user.get("id"), "user": dict(user)}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _skip_reply(replies: Iterator[Any]) -> None:
    next(replies)


class SocketRegistry:
    def __init__(self, redis: AsyncRedis) -> None:
        self._redis = redis
        # register_script: EVALSHA, loading the script once if the server lacks it.
        self._set_room_script = redis.register_script(lua_text(LUA_DIR, "instance_socket_room.lua"))

    async def add(self, user: Mapping[str, Any], sid: str, *, instance_id: str | None = None) -> None:
        """Register a connected socket under its user (only a truthy id, contract 1.6) and instance."""
        user_id = user.get("id")
        if not user_id and instance_id is None:
            return
        # Not a transaction: the user's set and the instance's records are two slots on a Cluster.
        async with self._redis.pipeline(transaction=False) as pipe:
            if user_id:
                key = user_sockets_key(user_id)
                pipe.sadd(key, sid)
                pipe.expire(key, USER_KEY_TTL_SECONDS)
            if instance_id is not None:
                pipe.hset(instance_sockets_key(instance_id), sid, socket_record(user))
                pipe.sadd(RECORDED_INSTANCES_KEY, instance_id)
            await pipe.execute()

    async def remove(self, user_id: Any, sid: str, *, instance_id: str | None = None) -> None:
        """Unregister a socket that is gone (from its user's set and its instance's records)."""
        if not user_id and instance_id is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            if user_id:
                pipe.srem(user_sockets_key(user_id), sid)  # Redis deletes a set its last SREM empties
            if instance_id is not None:
                pipe.hdel(instance_sockets_key(instance_id), sid)
                pipe.hdel(instance_rooms_key(instance_id), sid)
            await pipe.execute()

    def queue_set_room(self, pipe: AsyncPipeline, instance_id: str, sid: str,
                       room_id: str) -> ReplyReader[None]:
        """`set_room(..., room_id)` queued on the caller's pipeline (the room join's round trip)."""
        keys = [instance_sockets_key(instance_id), instance_rooms_key(instance_id)]
        queue_script(pipe, self._set_room_script, keys, [sid, room_id])
        return _skip_reply

    async def set_room(self, instance_id: str, sid: str, room_id: str | None) -> None:
        """Record the room an instance's socket is in (None: in none)."""
        if room_id is None:
            await self._redis.hdel(instance_rooms_key(instance_id), sid)
        else:
            keys = [instance_sockets_key(instance_id), instance_rooms_key(instance_id)]
            await self._set_room_script(keys=keys, args=[sid, room_id])

    async def sockets_of(self, user_id: int | float) -> set[str]:
        members = await self._redis.smembers(user_sockets_key(user_id))
        return {as_text(m) for m in members}

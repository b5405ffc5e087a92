"""Clean up after web instances that died without running their sockets' disconnect cleanup
(kill -9, OOM, host loss): their sockets would otherwise stay in rooms, seats and counts.

Every instance runs `sweep_once` periodically, and so does Celery beat (apps/realtime/tasks.py:
it also catches instances no web process is left to sweep, and gracefully stopped ones). An
instance whose heartbeat (Redis clock) is older than the dead threshold, or that has socket
records but no heartbeat entry at all (records a late write made after its sweep: listed in
`web:instances:recorded`), is claimed by one sweeper (SET NX PX); for each socket its
records list, the sweeper rebuilds the SocketSession and runs the same disconnect cleanup a
live process runs (socket_cleanup.py: rooms leave with seat:cleared, room:userLeft, Laravel
status and media release; registries), then drops the socket's record, so a sweep that
crashes midway resumes where it stopped. When no record is left the instance is forgotten.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, cast

from apps.realtime.correlation import correlation_id_var
from apps.realtime.event_registry import DisconnectHook, SocketSession
from apps.realtime.instance_keys import (
    INSTANCES_KEY,
    RECORDED_INSTANCES_KEY,
    instance_rooms_key,
    instance_sockets_key,
    instance_sweep_claim_key,
)
from apps.realtime.socket_cleanup import run_disconnect_cleanup
from apps.realtime.socket_registry import SocketRegistry
from flylive.redis_types import AsyncRedis
from flylive.redis_values import as_text

logger = logging.getLogger(__name__)

SWEEP_BATCH_SIZE = 32  # sockets cleaned concurrently; the claim is refreshed between batches


async def redis_now_ms(redis: AsyncRedis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


class DeadInstanceSweeper:
    def __init__(self, redis: AsyncRedis, registry: SocketRegistry, *, dead_after_ms: int,
                 claim_ttl_ms: int | None = None, own_id: str | None = None,
                 hooks: list[DisconnectHook] | None = None, batch_size: int = SWEEP_BATCH_SIZE) -> None:
        self.redis = redis
        self.registry = registry
        self.dead_after_ms = dead_after_ms
        # A sweeper that dies lets another take over after this long.
        self.claim_ttl_ms = claim_ttl_ms if claim_ttl_ms is not None else max(dead_after_ms, 10_000)
        self.own_id = own_id
        self.hooks = hooks  # None: the registered DISCONNECT_HOOKS
        self.batch_size = batch_size
        self._claimer = uuid.uuid4().hex

    async def dead_instances(self) -> list[str]:
        """Instances with a stale heartbeat, then those with records but no heartbeat entry."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(INSTANCES_KEY)
            pipe.smembers(RECORDED_INSTANCES_KEY)
            pipe.time()
            stamps, recorded, (seconds, micros) = await pipe.execute()
        now = int(seconds) * 1000 + int(micros) // 1000
        dead = []
        for raw_id, raw_stamp in stamps.items():
            instance_id = as_text(raw_id)
            if instance_id != self.own_id and self._is_stale(raw_stamp, now):
                dead.append(instance_id)
        orphaned = {as_text(raw_id) for raw_id in recorded} - {as_text(raw_id) for raw_id in stamps}
        dead.extend(sorted(orphaned - {self.own_id or ""}))
        return dead

    def _is_stale(self, raw_stamp: Any, now_ms: int) -> bool:
        try:
            stamp = int(as_text(raw_stamp))
        except ValueError:
            return True  # unreadable: nobody alive writes that
        return now_ms - stamp > self.dead_after_ms

    async def sweep_once(self) -> list[str]:
        """Sweep every dead instance this sweeper can claim; returns the ones fully swept."""
        swept = []
        for instance_id in await self.dead_instances():
            try:
                if await self.sweep_instance(instance_id):
                    swept.append(instance_id)
            except Exception:
                logger.exception("sweep of dead web instance %s failed; it is retried later", instance_id)
        return swept

    async def sweep_instance(self, instance_id: str) -> bool:
        """Clean up a dead instance if this sweeper wins the claim. True when it is gone."""
        claim = instance_sweep_claim_key(instance_id)
        if not await self.redis.set(claim, self._claimer, nx=True, px=self.claim_ttl_ms):
            return False  # another process is on it (or just finished it)
        logger.warning("web instance %s is dead: cleaning up its sockets", instance_id)
        sockets_key = instance_sockets_key(instance_id)
        cursor = 0
        cleaned = 0
        while True:
            if not await self._still_dead(instance_id):
                logger.warning("web instance %s came back: sweep stopped", instance_id)
                return False
            cursor, page = await self.redis.hscan(sockets_key, cursor, count=self.batch_size)
            records = [(as_text(sid), as_text(raw)) for sid, raw in cast(dict[Any, Any], page).items()]
            for start in range(0, len(records), self.batch_size):
                batch = records[start:start + self.batch_size]
                await self._clean_batch(instance_id, batch)
                cleaned += len(batch)
                await self.redis.pexpire(claim, self.claim_ttl_ms)
            if cursor == 0:
                break
        if await self.redis.hlen(sockets_key):
            return False  # some cleanup failed: those records stay for the next sweep
        # Not a transaction (the index and the instance's records are two slots on a Cluster):
        # a sweep cut short here leaves the entry, and the next sweep finishes the job.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hdel(INSTANCES_KEY, instance_id)
            pipe.srem(RECORDED_INSTANCES_KEY, instance_id)
            pipe.delete(sockets_key, instance_rooms_key(instance_id))
            await pipe.execute()
        # The claim is left to expire: a sweeper that listed the instance earlier skips it.
        logger.warning("web instance %s swept: %d sockets cleaned up", instance_id, cleaned)
        return True

    async def _still_dead(self, instance_id: str) -> bool:
        stamp = await self.redis.hget(INSTANCES_KEY, instance_id)
        if stamp is None:
            return True  # forgotten by a sweep that finished; leftovers are still dead
        return self._is_stale(stamp, await redis_now_ms(self.redis))

    async def _clean_batch(self, instance_id: str, batch: list[tuple[str, str]]) -> None:
        sids = [sid for sid, _ in batch]
        rooms = await self.redis.hmget(instance_rooms_key(instance_id), sids)
        await asyncio.gather(*(self._clean_socket(instance_id, sid, raw, room)
                               for (sid, raw), room in zip(batch, rooms, strict=True)))

    async def _clean_socket(self, instance_id: str, sid: str, raw: str, room: bytes | str | None) -> None:
        correlation_id_var.set(str(uuid.uuid4()))  # each socket's cleanup logs under its own id
        try:
            record = json.loads(raw)
            user = record["user"]
            if not isinstance(user, dict):
                raise TypeError("user is not an object")
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable record of socket %s on dead instance %s dropped: %r",
                         sid, instance_id, raw)
            await self.registry.remove(None, sid, instance_id=instance_id)
            return
        # Not served here: instance_id None keeps the rooms app from recording it anywhere.
        session = SocketSession(sid=sid, user=user, room_id=None if room is None else as_text(room))
        await run_disconnect_cleanup(session, self.registry, instance_id=instance_id, hooks=self.hooks)

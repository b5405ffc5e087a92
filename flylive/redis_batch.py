"""Auto-pipelining: while a process has Redis calls on their way, the calls its handlers make
go to Redis together, one pipeline per event-loop turn.

redis-py sends every call on its own (a pooled connection taken and given back, one write
system call, one reply read), which under load costs far more CPU than the command itself:
measured at about 120 us of client CPU per script call with 25 callers at once, 40 us when
they share pipelines (bench/redis_batch.py). redis-py has no automatic pipelining (ioredis,
which the Node server used, has), hence this small module.

A call made while none of ours is on its way is sent at once, alone, exactly as before (no
added latency on a quiet process). A call made while others are on their way waits for the
end of the loop turn, and every call made in that turn goes as one pipeline, in a task of its
own (a caller that is cancelled fails nobody else). Each call gets its own reply or error; a
script that Redis does not hold (after a restart or SCRIPT FLUSH: NOSCRIPT, so it did not run)
is sent again through redis-py's loader. Calls are independent: no ordering or atomicity
between two callers' calls beyond Redis's own (each script is still atomic).
"""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from flylive.redis_types import AsyncPipeline, AsyncRedis

KeyOrArg = str | int | float


class _Call:
    """A script call (`script` set) or a plain command (`command`)."""

    __slots__ = ("args", "command", "future", "keys", "script")

    def __init__(self, script: AsyncScript | None, keys: Sequence[str], args: Sequence[KeyOrArg],
                 command: tuple[KeyOrArg, ...] = ()) -> None:
        self.script = script
        self.keys = keys
        self.args = args
        self.command = command
        self.future: asyncio.Future[Any] | None = None

    async def run_alone(self, redis: AsyncRedis) -> Any:
        if self.script is not None:
            return await self.script(keys=self.keys, args=self.args)
        return await redis.execute_command(*self.command)

    def queue(self, pipe: AsyncPipeline) -> None:
        if self.script is not None:  # (not pipe.evalsha: a Cluster pipeline blocks that method)
            pipe.execute_command("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)
        else:
            pipe.execute_command(*self.command)

    def settle(self, result: Any) -> None:
        if self.future is not None and not self.future.done():
            if isinstance(result, BaseException):
                self.future.set_exception(result)
            else:
                self.future.set_result(result)


class AutoPipeline:
    """Script calls of one event loop, batched per loop turn (one per Redis client)."""

    def __init__(self, redis: AsyncRedis) -> None:
        self.redis = redis
        self._batch: list[_Call] | None = None  # calls waiting for the end of this loop turn
        self._in_flight = 0  # sends of ours not answered yet
        self._tasks: set[asyncio.Task[None]] = set()

    async def script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[KeyOrArg] = ()) -> Any:
        """`await script(keys=keys, args=args)`, sent with the other calls of this loop turn."""
        return await self._call(_Call(script, keys, args))

    async def command(self, *command: KeyOrArg) -> Any:
        """`await redis.execute_command(*command)` (e.g. "EXISTS", key), sent with the other
        calls of this loop turn (the reply as redis-py parses that command's)."""
        return await self._call(_Call(None, (), (), command))

    async def _call(self, call: _Call) -> Any:
        if not self._in_flight and self._batch is None:
            # Nothing of ours on the way to Redis: send at once (no added latency when idle).
            self._in_flight += 1
            try:
                return await call.run_alone(self.redis)
            finally:
                self._in_flight -= 1
        # Calls are on their way: this one waits for the end of the loop turn, with the others
        # made meanwhile, and they go together.
        call.future = asyncio.get_running_loop().create_future()
        if self._batch is None:
            # The batch's task starts at the next loop turn: every call made before then joins it.
            self._batch = []
            self._spawn(self._batch)
        self._batch.append(call)
        return await call.future

    def _spawn(self, batch: list[_Call]) -> None:
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if task.cancelled():  # (the loop is closing) nobody waits forever for this batch
                if batch is self._batch:
                    self._batch = None
                for call in batch:
                    call.settle(asyncio.CancelledError())

        task.add_done_callback(done)

    async def _send(self, batch: list[_Call]) -> None:
        if batch is self._batch:
            self._batch = None  # closed: later calls start the next batch
        self._in_flight += 1
        try:
            await self._send_batch(batch)
        finally:
            self._in_flight -= 1

    async def _send_batch(self, batch: list[_Call]) -> None:
        if len(batch) == 1:
            try:
                batch[0].settle(await batch[0].run_alone(self.redis))
            except Exception as exc:
                batch[0].settle(exc)
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for call in batch:
                    call.queue(pipe)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # the connection failed, or the loop is closing
            for call in batch:
                call.settle(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for call, reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError):  # not run: load it and run it again
                try:
                    reply = await call.run_alone(self.redis)
                except Exception as exc:
                    reply = exc
            call.settle(reply)


_by_client: weakref.WeakKeyDictionary[AsyncRedis, AutoPipeline] = weakref.WeakKeyDictionary()


def auto_pipeline(redis: AsyncRedis) -> AutoPipeline:
    """The auto-pipeline of `redis` (a client belongs to one loop, so one pipeline per loop)."""
    batcher = _by_client.get(redis)
    if batcher is None:
        batcher = _by_client[redis] = AutoPipeline(redis)
    return batcher


class BatchedScript:
    """A registered script whose calls go through the loop's auto-pipeline; called like redis-py's
    (`await script(keys=..., args=...)`)."""

    def __init__(self, redis: AsyncRedis, script: AsyncScript) -> None:
        self.script = script
        self._pipeline = auto_pipeline(redis)

    async def __call__(self, keys: Sequence[str] = (), args: Sequence[KeyOrArg] = ()) -> Any:
        return await self._pipeline.script(self.script, keys, args)

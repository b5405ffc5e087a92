"""Auto-pipelining: the Redis calls that a process's handlers make in one event-loop turn go to
Redis as one pipeline.

redis-py sends every call on its own (a pooled connection taken and given back, one write
system call, one reply read), which under load costs far more CPU than the command itself:
measured at about 120 us of client CPU per script call with 25 callers at once, 40 us when
they share pipelines (bench/redis_batch.py). redis-py has no automatic pipelining (ioredis,
which the Node server used, has), hence this small module.

The first caller of a turn leads: it lets the loop run once (`sleep(0)`) so that the other
handlers ready in this turn add their calls, then the batch is sent. A caller alone then sends
its call as before, one loop turn later. (A variant that sent a call at once when none of the
process's calls was on its way, and batched only the others, had the same CPU but a worse
seats p99 in the load generator: median 38.5 ms over six runs, against 32.9 ms over seven.)
A batch of several runs in a task of its own, so a leader that is cancelled (its socket went
away) does not fail the others. Each call gets its own reply or error; a script that Redis
does not hold (after a restart or SCRIPT FLUSH: NOSCRIPT, so it did not run) is sent again
through redis-py's loader. Calls are independent: no ordering or atomicity between two
callers' calls beyond Redis's own (each script is still atomic).
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
    """Script calls and commands of one event loop, batched per loop turn (one per Redis client)."""

    def __init__(self, redis: AsyncRedis) -> None:
        self.redis = redis
        self._batch: list[_Call] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def script(self, script: AsyncScript, keys: Sequence[str], args: Sequence[KeyOrArg] = ()) -> Any:
        """`await script(keys=keys, args=args)`, sent with the other calls of this loop turn."""
        return await self._call(_Call(script, keys, args))

    async def command(self, *command: KeyOrArg) -> Any:
        """`await redis.execute_command(*command)` (e.g. "EXISTS", key), sent with the other
        calls of this loop turn (the reply as redis-py parses that command's)."""
        return await self._call(_Call(None, (), (), command))

    async def _call(self, call: _Call) -> Any:
        if self._batch is not None:
            call.future = asyncio.get_running_loop().create_future()
            self._batch.append(call)
            return await call.future
        batch = self._batch = [call]
        try:
            await asyncio.sleep(0)  # the other handlers ready in this turn join the batch
        except asyncio.CancelledError:
            self._batch = None
            if len(batch) > 1:
                self._spawn(batch[1:])
            raise
        self._batch = None
        if len(batch) == 1:
            return await call.run_alone(self.redis)
        call.future = asyncio.get_running_loop().create_future()
        self._spawn(batch)
        return await call.future

    def _spawn(self, batch: list[_Call]) -> None:
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if task.cancelled():  # (the loop is closing) nobody waits forever for this batch
                for call in batch:
                    call.settle(asyncio.CancelledError())

        task.add_done_callback(done)

    async def _send(self, batch: list[_Call]) -> None:
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

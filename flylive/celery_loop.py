"""One long-lived asyncio loop per Celery worker process, for the tasks' async code.

Celery tasks are sync; the server's code is asyncio (redis.asyncio, the channel layer,
httpx). Their clients are per event loop, so `asyncio.run` per task would build and leak
a Redis pool, a channel-layer connection and an HTTP client on every run. Instead each
process runs one loop in a daemon thread and tasks submit coroutines to it:

    @loop_task("rooms.auto_close_idle_rooms", timeout=120)
    async def auto_close_idle_rooms() -> int:
        ...

The loop is made lazily in the process that first needs it (after the prefork pool's
fork: a thread does not survive a fork) and is safe to use from several task threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from celery import shared_task

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def task_loop() -> asyncio.AbstractEventLoop:
    """This process's task loop, started on first use."""
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="celery-asyncio-loop", daemon=True)
            thread.start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def run_async(work: Coroutine[Any, Any, T], *, timeout: float) -> T:
    """Run `work` on the process's task loop and return its result; after `timeout`
    seconds it is cancelled (its `finally` blocks run) and TimeoutError is raised."""
    future = asyncio.run_coroutine_threadsafe(work, task_loop())
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"task coroutine did not finish within {timeout}s") from None


def loop_task(name: str, *, timeout: float) -> Callable[[Callable[[], Coroutine[Any, Any, T]]], Any]:
    """Register `async def job()` as the Celery task `name` (no result stored) that runs it
    on the task loop, cancelled after `timeout` seconds. The decorated name is the task."""

    def register(job: Callable[[], Coroutine[Any, Any, T]]) -> Any:
        @functools.wraps(job)
        def run() -> T:
            return run_async(job(), timeout=timeout)

        return shared_task(name=name, ignore_result=True)(run)

    return register

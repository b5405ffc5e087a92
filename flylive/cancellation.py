"""Cancellation that survives retry loops.

Python 3.11's `asyncio.timeout` turns a cancellation that lands just as its deadline expires
into TimeoutError: the cancel is lost (fixed in 3.12). redis-py and our channel-layer calls use
such timeouts, so a background loop that logs and retries on `Exception` would swallow its own
stop and never end. Each such loop calls `reraise_if_cancelled(exc)` first in its handler.
"""

from __future__ import annotations

import asyncio


def reraise_if_cancelled(exc: BaseException) -> None:
    """Raise CancelledError when the running task was asked to stop, whatever `exc` became."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc

"""A small event emitter: `on`, `once`, `off`, `emit`, with sync or async listeners.

Listeners run inside the channel reader's call stack, so a listener error must never
escape into it: errors are logged; coroutine listeners are scheduled as tasks.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Listener = Callable[..., Any]


class EventEmitter:
    """Node-style emitter; `emit` returns whether any listener was called."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[tuple[Listener, bool]]] = {}
        # Strong references to running listener tasks (the loop keeps only weak ones).
        self._listener_tasks: set[asyncio.Task[Any]] = set()

    def on(self, event: str, listener: Listener) -> Listener:
        self._listeners.setdefault(event, []).append((listener, False))
        return listener

    def once(self, event: str, listener: Listener) -> Listener:
        self._listeners.setdefault(event, []).append((listener, True))
        return listener

    def off(self, event: str, listener: Listener | None = None) -> None:
        """Remove one listener, or every listener of `event` when none is given."""
        if listener is None:
            self._listeners.pop(event, None)
            return
        entries = self._listeners.get(event, [])
        for index, (registered, _) in enumerate(entries):
            if registered is listener:
                del entries[index]
                break
        if not entries:
            self._listeners.pop(event, None)

    def remove_all_listeners(self) -> None:
        self._listeners.clear()

    def listener_count(self, event: str) -> int:
        return len(self._listeners.get(event, []))

    def emit(self, event: str, *args: Any) -> bool:
        entries = self._listeners.get(event)
        if not entries:
            return False
        # Copy: a listener may add or remove listeners while we iterate.
        for entry in list(entries):
            listener, one_shot = entry
            if one_shot:
                self._remove_entry(event, entry)
            self._call(event, listener, args)
        return True

    def _remove_entry(self, event: str, entry: tuple[Listener, bool]) -> None:
        entries = self._listeners.get(event, [])
        for index, registered in enumerate(entries):
            if registered is entry:
                del entries[index]
                break
        if not entries:
            self._listeners.pop(event, None)

    def _call(self, event: str, listener: Listener, args: tuple[Any, ...]) -> None:
        try:
            result = listener(*args)
        except Exception:
            logger.exception("listener of %r on %s raised", event, type(self).__name__)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._listener_tasks.add(task)
            task.add_done_callback(lambda done: self._listener_done(event, done))

    def _listener_done(self, event: str, task: asyncio.Future[Any]) -> None:
        if isinstance(task, asyncio.Task):
            self._listener_tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("async listener of %r on %s raised", event, type(self).__name__, exc_info=error)

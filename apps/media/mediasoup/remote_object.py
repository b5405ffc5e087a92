"""The base of every object whose real state lives in the worker (router, transport, ...).

It owns the close protocol shared by all of them: a close asked by the user is sent
to the worker and the local side is torn down once the worker answered (or is gone);
a close coming from a parent (or the worker) tears down at once. Either way the
teardown runs once, fires exactly one close event, then the observer's `close`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .channel import Channel, Packable
from .errors import InvalidStateError, RequestTimeoutError, WorkerRequestError
from .events import EventEmitter

logger = logging.getLogger(__name__)

AppData = dict[str, Any]


class RemoteObject(EventEmitter):
    """Identity, app data, observer, request guard and close bookkeeping."""

    def __init__(self, channel: Channel, object_id: str, app_data: AppData | None) -> None:
        super().__init__()
        self._channel = channel
        self._id = object_id
        self.app_data: AppData = app_data if app_data is not None else {}
        # For outsiders (monitoring, the room layer): `close`, `new...` events.
        self.observer = EventEmitter()
        self._torn_down = False
        self._close_requested = False
        self._torn_down_event = asyncio.Event()
        # Internal bookkeeping run on teardown whatever its cause (parents drop their references).
        self._teardown_callbacks: list[Callable[[], object]] = []

    @property
    def id(self) -> str:
        return self._id

    @property
    def closed(self) -> bool:
        """True as soon as a close was asked for or happened: the object accepts no more requests."""
        return self._torn_down or self._close_requested

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<{type(self).__name__} {self._id}{state}>"

    async def close(self) -> None:
        """Close in the worker, then locally (each subclass sends its own close request)."""
        raise NotImplementedError

    async def _request(
        self, method: int, body_type: int = 0, body: Packable | None = None, handler_id: str | None = None
    ) -> Any:
        if self.closed:
            raise InvalidStateError(f"{type(self).__name__} {self._id} is closed")
        return await self._channel.request(
            method, body_type, body, self._id if handler_id is None else handler_id
        )

    async def _close_in_worker(
        self, method: int, body_type: int, body: Packable | None, handler_id: str, close_event: str = "@close"
    ) -> None:
        """Ask the worker to close this object, then tear down locally emitting `close_event`."""
        if self._torn_down:
            return
        if self._close_requested:
            await self._torn_down_event.wait()
            return
        self._close_requested = True
        # Notifications the close itself causes (e.g. CONSUMER_PRODUCER_CLOSE) must not pre-empt the
        # cascade: like mediasoup's Node library, stop listening for this subtree before asking.
        self._mute_subtree()
        try:
            await self._channel.request(method, body_type, body, handler_id)
        except InvalidStateError:
            pass  # the worker is gone: nothing left to close there
        except (WorkerRequestError, RequestTimeoutError) as error:
            logger.warning("%r: worker did not confirm the close: %s", self, error)
        finally:
            # Also on cancellation: the request is out, and nothing may stay half-closed.
            self._teardown(close_event)

    def _teardown(self, event: str) -> bool:
        """Tear down the local side once: children first, then `event`, then observer `close`."""
        if self._torn_down:
            return False
        self._torn_down = True
        self._channel.remove_handler(self._id)
        self._close_children()
        callbacks, self._teardown_callbacks = self._teardown_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("%r: teardown callback failed", self)
        self.emit(event)
        self.observer.emit("close")
        self._torn_down_event.set()
        return True

    def _close_children(self) -> None:
        """Subclasses tear their children down here (with the event naming this parent)."""

    def _children(self) -> list[RemoteObject]:
        """Direct children (for muting a subtree being closed)."""
        return []

    def _mute_subtree(self) -> None:
        self._channel.remove_handler(self._id)
        for child in self._children():
            child._mute_subtree()

    async def wait_closed(self) -> None:
        """Return once the local side has been torn down."""
        await self._torn_down_event.wait()

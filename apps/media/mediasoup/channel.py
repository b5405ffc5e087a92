"""The worker's FlatBuffers channel over two pipes, in asyncio.

Frames both ways are a 4-byte little-endian length then an `FBS.Message.Message`.
Requests carry an id and get exactly one Response; Notifications are routed to the
handler registered for their handlerId; Log frames go to Python `logging`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, cast

import flatbuffers  # type: ignore[import-untyped]
from FBS.Log.Log import Log
from FBS.Message.Body import Body as MessageBody
from FBS.Message.Message import Message, MessageT
from FBS.Notification.Body import BodyCreator as notification_body_creator
from FBS.Notification.Event import Event
from FBS.Notification.Notification import Notification, NotificationT
from FBS.Request.Method import Method
from FBS.Request.Request import RequestT
from FBS.Response.Body import BodyCreator as response_body_creator
from FBS.Response.Response import Response

from .errors import InvalidStateError, MediasoupError, RequestTimeoutError, WorkerRequestError
from .fbs_codec import enum_names, text

logger = logging.getLogger(__name__)
worker_logger = logging.getLogger("apps.media.mediasoup.worker_log")

# The worker's own limit (Channel::ChannelSocket): bigger frames are dropped.
MESSAGE_MAX_LEN = 4_194_308
PAYLOAD_MAX_LEN = MESSAGE_MAX_LEN - 4
DEFAULT_REQUEST_TIMEOUT = 15.0

METHOD_NAMES = enum_names(Method)
EVENT_NAMES = enum_names(Event)

NotificationHandler = Callable[[int, Any], None]


def pipe_file(fd: int, mode: str) -> BinaryIO:
    """An unbuffered file object over a pipe fd, for the loop's pipe transports (which own it then)."""
    return cast(BinaryIO, os.fdopen(fd, mode, buffering=0))


class Packable(Protocol):
    """A FlatBuffers object-API value (`...T`) that can write itself into a builder."""

    def Pack(self, builder: flatbuffers.Builder) -> int: ...  # flatc's method name


@dataclass
class _PendingRequest:
    method: int
    future: asyncio.Future[Any]
    timer: asyncio.TimerHandle | None = field(default=None)

    @property
    def method_name(self) -> str:
        return METHOD_NAMES.get(self.method, str(self.method))


class _ReadProtocol(asyncio.Protocol):
    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def data_received(self, data: bytes) -> None:
        self._channel._data_received(data)

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        self._channel._reader_lost(exc)


class Channel:
    """Requests, notifications and logs to and from one worker process."""

    def __init__(self, *, pid: int, request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> None:
        self.pid = pid
        self.request_timeout = request_timeout
        self._loop = asyncio.get_running_loop()
        self._reader: asyncio.ReadTransport | None = None
        self._writer: asyncio.WriteTransport | None = None
        self._buffer = bytearray()
        self._next_id = 0
        self._pending: dict[int, _PendingRequest] = {}
        self._handlers: dict[str, NotificationHandler] = {}
        self._builder = flatbuffers.Builder(1024)
        self._closed = False
        self._close_reason = "channel closed"
        self._on_lost: Callable[[], None] | None = None

    @classmethod
    async def open(
        cls,
        *,
        read_fd: int,
        write_fd: int,
        pid: int,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        on_lost: Callable[[], None] | None = None,
    ) -> Channel:
        """Wrap the two pipe ends (ownership of both fds passes to the channel)."""
        channel = cls(pid=pid, request_timeout=request_timeout)
        channel._on_lost = on_lost
        loop = channel._loop
        channel._reader, _ = await loop.connect_read_pipe(
            lambda: _ReadProtocol(channel), pipe_file(read_fd, "rb")
        )
        channel._writer, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, pipe_file(write_fd, "wb"))
        return channel

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def handler_ids(self) -> frozenset[str]:
        """Ids that notifications are routed to now (what is still registered; for leak checks)."""
        return frozenset(self._handlers)

    # ---------------------------------------------------------------- handlers

    def add_handler(self, handler_id: str, handler: NotificationHandler) -> None:
        """Route notifications whose handlerId is `handler_id` to `handler(event, body)`."""
        self._handlers[handler_id] = handler

    def remove_handler(self, handler_id: str) -> None:
        self._handlers.pop(handler_id, None)

    def remove_all_handlers(self) -> None:
        self._handlers.clear()

    # ---------------------------------------------------------------- sending

    async def request(
        self,
        method: int,
        body_type: int = 0,
        body: Packable | None = None,
        handler_id: str = "",
        *,
        timeout_seconds: float | None = None,
    ) -> Any:
        """Send a request; return its response body (object API value, or None)."""
        if self._closed:
            raise InvalidStateError(f"{self._close_reason}: cannot send {METHOD_NAMES.get(method, method)}")
        self._next_id = self._next_id + 1 if self._next_id < 0xFFFFFFFF else 1
        request_id = self._next_id
        request = RequestT(id=request_id, method=method, handlerId=handler_id, bodyType=body_type, body=body)
        frame = self._frame(MessageBody.Request, request)
        self._write(frame)  # raises before anything is registered if the pipe is gone
        future: asyncio.Future[Any] = self._loop.create_future()
        pending = _PendingRequest(method=method, future=future)
        self._pending[request_id] = pending
        delay = self.request_timeout if timeout_seconds is None else timeout_seconds
        pending.timer = self._loop.call_later(delay, self._expire, request_id, delay)
        try:
            return await future
        finally:
            # Cancelled by the caller or done: either way it is no longer pending.
            if self._pending.get(request_id) is pending:
                self._forget(request_id)

    def notify(
        self, event: int, body_type: int = 0, body: Packable | None = None, handler_id: str = ""
    ) -> None:
        """Send a notification (no response); raises InvalidStateError when closed."""
        if self._closed:
            raise InvalidStateError(f"{self._close_reason}: cannot send {EVENT_NAMES.get(event, event)}")
        notification = NotificationT(handlerId=handler_id, event=event, bodyType=body_type, body=body)
        self._write(self._frame(MessageBody.Notification, notification))

    def _frame(self, data_type: int, data: Packable) -> bytes:
        builder = self._builder
        builder.Clear()
        builder.FinishSizePrefixed(MessageT(dataType=data_type, data=data).Pack(builder))
        frame = bytes(builder.Output())
        if len(frame) > MESSAGE_MAX_LEN:
            raise MediasoupError(f"channel message too big ({len(frame)} bytes)")
        return frame

    def _write(self, frame: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise InvalidStateError(f"{self._close_reason}: pipe to the worker is closed")
        writer.write(frame)

    def _expire(self, request_id: int, delay: float) -> None:
        pending = self._forget(request_id)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(
                RequestTimeoutError(f"{pending.method_name}: no response from the worker in {delay:g}s")
            )

    def _forget(self, request_id: int) -> _PendingRequest | None:
        pending = self._pending.pop(request_id, None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        return pending

    # ---------------------------------------------------------------- receiving

    def _data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        while len(buffer) - offset >= 4:
            (length,) = struct.unpack_from("<I", buffer, offset)
            if length > PAYLOAD_MAX_LEN:
                logger.error(
                    "worker[pid:%s] sent an oversized frame (%d bytes): dropping buffer", self.pid, length
                )
                buffer.clear()
                return
            if len(buffer) - offset < 4 + length:
                break
            payload = bytes(buffer[offset + 4 : offset + 4 + length])
            offset += 4 + length
            try:
                self._process(payload)
            except Exception:
                logger.exception("worker[pid:%s] sent a message we could not process", self.pid)
        if offset:
            del buffer[:offset]

    def _process(self, payload: bytes) -> None:
        message = Message.GetRootAs(payload, 0)
        data_type = message.DataType()
        table = message.Data()
        if data_type == MessageBody.Response:
            response = Response()
            response.Init(table.Bytes, table.Pos)
            self._process_response(response)
        elif data_type == MessageBody.Notification:
            notification = Notification()
            notification.Init(table.Bytes, table.Pos)
            self._process_notification(notification)
        elif data_type == MessageBody.Log:
            log = Log()
            log.Init(table.Bytes, table.Pos)
            self._process_log(text(log.Data()))
        else:
            logger.warning("worker[pid:%s] sent an unexpected message type %s", self.pid, data_type)

    def _process_response(self, response: Response) -> None:
        pending = self._forget(response.Id())
        if pending is None:
            logger.error(
                "worker[pid:%s] response matches no pending request [id:%s]", self.pid, response.Id()
            )
            return
        if pending.future.done():
            return
        if response.Accepted():
            pending.future.set_result(response_body_creator(response.BodyType(), response.Body()))
            return
        error_type = text(response.Error()) or "Error"
        reason = text(response.Reason())
        logger.debug("request %s failed: %s: %s", pending.method_name, error_type, reason)
        pending.future.set_exception(WorkerRequestError(pending.method_name, reason, error_type))

    def _process_notification(self, notification: Notification) -> None:
        handler_id = text(notification.HandlerId())
        event = notification.Event()
        body = notification_body_creator(notification.BodyType(), notification.Body())
        # Deliver after already-resolved responses have woken their awaiters, so the object a
        # response creates can register its handler before its first notification arrives.
        self._loop.call_soon(self._dispatch, handler_id, event, body)

    def _dispatch(self, handler_id: str, event: int, body: Any) -> None:
        handler = self._handlers.get(handler_id)
        if handler is None:
            logger.debug(
                "notification %s for unknown handler %r dropped", EVENT_NAMES.get(event, event), handler_id
            )
            return
        try:
            handler(event, body)
        except Exception:
            logger.exception("handler %r failed on %s", handler_id, EVENT_NAMES.get(event, event))

    def _process_log(self, line: str) -> None:
        kind, message = line[:1], line[1:]
        if kind == "D":
            worker_logger.debug("[pid:%s] %s", self.pid, message)
        elif kind == "W":
            worker_logger.warning("[pid:%s] %s", self.pid, message)
        elif kind == "E":
            worker_logger.error("[pid:%s] %s", self.pid, message)
        else:  # 'X': dump output
            worker_logger.info("[pid:%s] %s", self.pid, message)

    def _reader_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            logger.debug("worker[pid:%s] channel read error: %s", self.pid, exc)
        was_closed = self._closed
        self.close(f"worker[pid:{self.pid}] channel closed by the worker")
        if not was_closed and self._on_lost is not None:
            self._on_lost()

    # ---------------------------------------------------------------- closing

    def close(self, reason: str = "channel closed") -> None:
        """Fail every pending request at once with InvalidStateError and drop the pipes."""
        if self._closed:
            return
        self._closed = True
        self._close_reason = reason
        pending = list(self._pending.items())
        self._pending.clear()
        for request_id, request in pending:
            if request.timer is not None:
                request.timer.cancel()
            if not request.future.done():
                request.future.set_exception(
                    InvalidStateError(
                        f"{reason}: pending request aborted [{request.method_name}, id:{request_id}]"
                    )
                )
        self._handlers.clear()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                self._reader.close()

"""Runs client events for one socket: validation, rate limit, handler, ack, metrics, log.

Everything around a handler happens here and nowhere else (see event_registry.py for the
rules each ack style follows). Each event runs in its own task so that a slow
handler (a Laravel call, a media RPC) never holds up this socket's heartbeat,
its other events or the broadcasts it receives; at most `max_in_flight` run at
once per socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from pydantic import ValidationError

from apps.realtime.codec import ack_frame, event_frame
from apps.realtime.correlation import correlation_id_var
from apps.realtime.event_registry import (
    REGISTRY,
    AckStyle,
    ChannelMessageHandler,
    ClientError,
    EventContext,
    EventSpec,
    RateLimit,
    SocketConnection,
    SocketSession,
    room_activity_recorder,
)
from apps.realtime.loop_services import RealtimeServices
from apps.realtime.zod_errors import format_errors, root_type_error
from flylive.js_number import js_number
from flylive.metrics import SOCKET_EVENT_LATENCY, SOCKET_EVENTS

logger = logging.getLogger("apps.realtime.events")

MAX_IN_FLIGHT_PER_SOCKET = 16
INVALID_PAYLOAD = "Invalid payload"
INTERNAL_ERROR = "Internal server error"
TOO_MANY_REQUESTS = "Too many requests"
_NO_ARGUMENT = object()


class _Invalid(Exception):
    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("invalid payload")
        self.errors = errors


class EventRunner:
    def __init__(
        self,
        connection: SocketConnection,
        session: SocketSession,
        services: RealtimeServices,
        *,
        registry: dict[str, EventSpec] | None = None,
        max_in_flight: int = MAX_IN_FLIGHT_PER_SOCKET,
    ) -> None:
        self.connection = connection
        self.session = session
        self.services = services
        self.registry = REGISTRY if registry is None else registry
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        # Held by each `ordered` event for its whole run; waiters get it first come, first served.
        self._ordered = asyncio.Lock()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, name: str, args: list[Any], ack_id: int | None) -> None:
        """Start handling one client event (returns at once)."""
        spec = self.registry.get(name)
        if spec is None:
            logger.debug("unknown event %r from %s ignored", name[:100], self.session.sid)
            SOCKET_EVENTS.labels(event="_unknown", status="ignored").inc()
            return
        if len(self._tasks) >= self.max_in_flight:
            SOCKET_EVENTS.labels(event=spec.name, status="overloaded").inc()
            logger.warning("event=%s sid=%s status=overloaded", spec.name, self.session.sid)
            self._reply_error(spec, ack_id, TOO_MANY_REQUESTS)
            return
        task = asyncio.create_task(self._handle(spec, args, ack_id), name=f"event {spec.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def submit_channel_message(self, handler: ChannelMessageHandler, message: dict[str, Any]) -> None:
        """Run a custom channel-layer message's handler for this socket (see on_channel_message)."""
        task = asyncio.create_task(self._handle_channel_message(handler, message),
                                   name=f"channel message {message.get('type')}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_channel_message(self, handler: ChannelMessageHandler, message: dict[str, Any]) -> None:
        correlation_id = str(uuid.uuid4())
        correlation_id_var.set(correlation_id)
        try:
            await handler(EventContext(self.session, correlation_id, self.connection), message)
        except Exception:
            logger.exception("channel message %r failed on socket %s cid=%s",
                             message.get("type"), self.session.sid, correlation_id)

    async def drain(self, grace_seconds: float) -> None:
        """Let the running handlers finish (used before disconnect cleanup); cancel stragglers."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _handle(self, spec: EventSpec, args: list[Any], ack_id: int | None) -> None:
        correlation_id = str(uuid.uuid4())
        correlation_id_var.set(correlation_id)  # this task's own context: nested logs carry it
        started = time.perf_counter()
        status = "server_error"
        try:
            ctx = EventContext(self.session, correlation_id, self.connection)
            if spec.ordered:
                async with self._ordered:
                    status = await self._run(spec, ctx, args, ack_id)
            else:
                status = await self._run(spec, ctx, args, ack_id)
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except Exception:
            logger.exception("event=%s sid=%s cid=%s failed", spec.name, self.session.sid, correlation_id)
            self._reply_error(spec, ack_id, INTERNAL_ERROR, internal=True)
        finally:
            elapsed = time.perf_counter() - started
            SOCKET_EVENTS.labels(event=spec.name, status=status).inc()
            SOCKET_EVENT_LATENCY.labels(event=spec.name).observe(elapsed)
            logger.info(
                "event=%s sid=%s user=%s status=%s ms=%.1f cid=%s",
                spec.name, self.session.sid, _user_label(self.session), status, elapsed * 1000,
                correlation_id,
            )

    async def _run(self, spec: EventSpec, ctx: EventContext, args: list[Any], ack_id: int | None) -> str:
        limit = spec.rate_limit
        if limit is not None and limit.before_validation and not await self._allowed(limit):
            self._reply_error(spec, ack_id, limit.message)
            return "rate_limited"
        try:
            payload = self._validate(spec, args)
        except _Invalid as invalid:
            self._reply_invalid(spec, ack_id, invalid.errors)
            return "invalid"
        if limit is not None and not limit.before_validation and not await self._allowed(limit):
            self._reply_error(spec, ack_id, limit.message)
            return "rate_limited"
        try:
            result = await spec.handler(ctx, payload)
        except ClientError as error:
            self._reply_error(spec, ack_id, error.message)
            return "client_error"
        self._reply_success(spec, ack_id, result)
        if spec.room_activity:
            await self._record_room_activity(spec, payload)
        return "success"

    async def _record_room_activity(self, spec: EventSpec, payload: Any) -> None:
        recorder = room_activity_recorder()
        room_id = getattr(payload, "roomId", None)
        if recorder is None or not isinstance(room_id, str):
            return
        try:
            await recorder(room_id)
        except Exception as exc:  # the event already succeeded; auto-close then errs on the late side
            logger.warning("event=%s could not record activity of room %s: %r", spec.name, room_id, exc)

    def _validate(self, spec: EventSpec, args: list[Any]) -> Any:
        raw = args[0] if args else _NO_ARGUMENT
        if spec.schema is None:
            return None if raw is _NO_ARGUMENT else raw
        acked = spec.ack in (AckStyle.ENVELOPE, AckStyle.PLAIN)
        if raw is _NO_ARGUMENT:
            raise _Invalid({"_errors": ["Required"]})
        if not isinstance(raw, dict):
            raise _Invalid(root_type_error(raw))
        if acked and len(args) != 1:
            raise _Invalid({"_errors": ["Expected exactly one argument"]})
        try:
            return spec.schema.model_validate(raw)
        except ValidationError as exc:
            raise _Invalid(format_errors(exc)) from None

    async def _allowed(self, limit: RateLimit) -> bool:
        value = limit.limit(self.services.config) if callable(limit.limit) else limit.limit
        return await self.services.rate_limiter.allow(
            limit.bucket, js_number(self.session.user_id), limit=value, window_seconds=limit.window_seconds
        )

    # Replies, per ack style.

    def _ack(self, ack_id: int | None, payload: Any) -> None:
        if ack_id is not None:
            self.connection.send_frame(ack_frame(ack_id, payload))

    def _error_event(self, payload: dict[str, Any]) -> None:
        self.connection.send_frame(event_frame("error", payload))

    def _reply_success(self, spec: EventSpec, ack_id: int | None, result: Any) -> None:
        if spec.ack is AckStyle.ENVELOPE:
            self._ack(ack_id, {"success": True} if result is None else {"success": True, "data": result})
        elif spec.ack is AckStyle.PLAIN and result is not None:
            self._ack(ack_id, result)

    def _reply_invalid(self, spec: EventSpec, ack_id: int | None, errors: dict[str, Any]) -> None:
        if spec.ack is AckStyle.ENVELOPE:
            self._ack(ack_id, {"success": False, "error": INVALID_PAYLOAD})
        elif spec.ack is AckStyle.PLAIN:
            answer = spec.invalid_ack if spec.invalid_ack is not None else {"error": INVALID_PAYLOAD}
            self._ack(ack_id, answer)
        elif spec.ack is AckStyle.ERROR_EVENT:
            self._error_event({"message": spec.invalid_message, "errors": errors})

    def _reply_error(self, spec: EventSpec, ack_id: int | None, message: str, *,
                     internal: bool = False) -> None:
        if spec.ack is AckStyle.ENVELOPE:
            self._ack(ack_id, {"success": False, "error": message})
        elif spec.ack is AckStyle.PLAIN:
            self._ack(ack_id, {"error": message})
        elif spec.ack is AckStyle.ERROR_EVENT and not internal:
            # An unexpected failure of a non-acking event is logged only (contract 1.7).
            self._error_event({"message": message})


def _user_label(session: SocketSession) -> str:
    try:
        return js_number(session.user_id)
    except (KeyError, TypeError):
        return "-"

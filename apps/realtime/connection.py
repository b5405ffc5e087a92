"""One Engine.IO connection over a websocket and its Socket.IO socket on namespace `/`.

Lifecycle: accept -> OPEN packet -> CONNECT (auth; `40{"sid"}` or `44{"message"}`)
-> events and broadcasts -> disconnect cleanup. Three kinds of work run side by side
so none can stall another: the receive loop (frames from the client, decoded and
handed on at once), the channel reader (frames broadcast to this socket), and the
handler tasks (see event_runner.py). Everything sent to the client goes through
one outbox (a deque) drained by one writer task, so frames leave in the order they
were queued, and a slow client never blocks the loops that queue them; the writer
sleeps only when the outbox is empty, and empties it in one wake-up. A frame sent
while the writer sleeps with nothing queued is written at once by the caller (the
server's send usually completes without waiting); if the send does wait (a slow
client), the writer finishes it before anything queued after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from apps.realtime import codec
from apps.realtime.auth import AUTHENTICATION_FAILED, Handshake, HandshakeRejected, authenticate
from apps.realtime.correlation import correlation_id_var
from apps.realtime.direct_write import direct_writer
from apps.realtime.emit import (
    EVERYONE_GROUP,
    FRAME_MESSAGE_TYPE,
    register_local_socket,
    unregister_local_socket,
)
from apps.realtime.event_registry import CHANNEL_MESSAGE_HANDLERS, SocketSession
from apps.realtime.event_runner import EventRunner
from apps.realtime.loop_services import RealtimeServices
from apps.realtime.socket_cleanup import run_disconnect_cleanup
from apps.realtime.web_instance import web_instance
from flylive.metrics import CHANNEL_LAYER_ERRORS, SOCKET_CONNECTIONS

logger = logging.getLogger(__name__)

ASGISend = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]

MAX_PAYLOAD_BYTES = 1_000_000  # engine.io's maxHttpBufferSize, also enforced on websocket frames
CONNECT_TIMEOUT_SECONDS = 45.0  # socket.io's connectTimeout: CONNECT must come within this
DRAIN_TIMEOUT_SECONDS = 30.0  # running handlers get this long to finish after a disconnect
SHUTDOWN_CLEANUP_SECONDS = 10.0  # at server shutdown, how long sockets' cleanups may delay it
MAX_QUEUED_FRAMES = 10_000  # a client this far behind is dropped rather than buffered forever
MAX_HELD_ANNOUNCEMENTS = 10_000  # new-member announcements held during one room join

# Close codes.
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013

# Tasks that outlive their consumer (disconnect cleanup), kept referenced until done.
_detached: set[asyncio.Task[None]] = set()
# Every websocket this process is serving, for closing them all at shutdown.
_open_connections: set[SocketIOConnection] = set()


async def close_all_sockets(grace_seconds: float) -> None:
    """At shutdown: close every websocket of this process (as socket.io's `io.close()` does) and
    wait, bounded, until each is gone and its disconnect cleanup (hooks, registry) is done."""
    for connection in list(_open_connections):
        connection.close(GOING_AWAY, "server shutting down")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_seconds
    while (_open_connections or _detached) and loop.time() < deadline:
        if _detached:
            await asyncio.wait(set(_detached), timeout=max(0.0, deadline - loop.time()))
        else:
            await asyncio.sleep(0.05)


def close_sockets_of_instance(instance_id: str) -> None:
    """The instance was swept as dead while alive: its sockets' state is gone from Redis, so
    close them and let their clients reconnect (and join again) to a consistent state."""
    for connection in list(_open_connections):
        if connection.session is not None and connection.session.instance_id == instance_id:
            connection.close(TRY_AGAIN_LATER, "server instance reset")


async def rerecord_sockets_of_instance(instance_id: str) -> None:
    """Redis lost its data and the instance registered again: write its live sockets' records
    again (user socket sets, instance records and rooms), so emits to their users and a sweep
    after this process dies find them. Room membership itself was lost with Redis; a client
    gets it back by joining again (docs/protocol.md, "Redis restarts")."""
    rewritten = 0
    for connection in list(_open_connections):
        session = connection.session
        if session is None or session.instance_id != instance_id or connection._closing:
            continue
        try:
            await connection.services.sockets.add(session.user, session.sid, instance_id=instance_id)
            if session.room_id is not None:
                await connection.services.sockets.set_room(instance_id, session.sid, session.room_id)
            rewritten += 1
        except Exception as exc:  # Redis failed again: the next re-registration retries
            logger.warning("could not re-record socket %s: %r", session.sid, exc)
            return
    logger.info("web instance %s: %d socket records written again", instance_id, rewritten)


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


class _ResumedSend:
    """The rest of an ASGI send whose first step ran in the caller and had to wait: awaiting
    this drives it on from where it stopped (what `yield from` would do)."""

    def __init__(self, steps: Iterator[Any], waiting_on: Any) -> None:
        self._steps = steps
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        steps, value = self._steps, self._waiting_on
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # cancellation is passed in, as `yield from` does
                throw = getattr(steps, "throw", None)
                if throw is None:  # a plain iterator cannot take it (PEP 380): raise it here
                    raise
                try:
                    value = throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = _step(steps, sent)
                except StopIteration:
                    return


def _step(steps: Iterator[Any], sent: Any) -> Any:
    """One step of an awaitable's iterator, taken as `yield from` takes it (PEP 380): `next()`
    when nothing is sent. `__await__` may return a plain iterator rather than a generator
    (granian's send does), and a plain iterator has no `send`."""
    return next(steps) if sent is None else steps.send(sent)  # type: ignore[attr-defined]


def _log_send_failure(sid: str | None, exc: Exception) -> None:
    """A send that raised: the peer went away (the server's OSError, at debug level), or
    something unexpected, at warning so that it is seen (the socket stops sending either way)."""
    level = logging.DEBUG if isinstance(exc, OSError) else logging.WARNING
    logger.log(level, "send failed on socket %s: %r", sid, exc)


def _utf8_length_exceeds(text: str, limit: int) -> bool:
    if len(text) > limit:  # every character is at least one byte
        return True
    if len(text) * 4 <= limit:  # and at most four
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


class SocketIOConnection:
    def __init__(
        self,
        scope: dict[str, Any],
        send: ASGISend,
        *,
        services: RealtimeServices,
        channel_layer: Any,
        ping_interval: float,
        ping_timeout: float,
        max_payload: int = MAX_PAYLOAD_BYTES,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self.scope = scope
        self._send = send
        self._direct = direct_writer(send)  # None unless uvicorn's websockets-sansio serves it
        self.services = services
        self.channel_layer = channel_layer
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_payload = max_payload
        self.connect_timeout = connect_timeout
        self.engine_sid = secrets.token_urlsafe(15)  # 20 characters, like engine.io's ids

        self.session: SocketSession | None = None
        self.events: EventRunner | None = None
        self._channel_name: str | None = None
        self._groups: set[str] = set()
        self._outbox: deque[str | _Close] = deque()
        self._writer_wakeup: asyncio.Future[None] | None = None  # set while the writer sleeps
        self._held_announcements: list[tuple[str, int]] | None = None  # while a room join runs
        self._suspended_send: _ResumedSend | None = None  # a direct send the writer must finish
        self._closing = False
        self._pong = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- the SocketConnection protocol (used by handlers through EventContext) ---

    @property
    def sid(self) -> str:
        if self._channel_name is None:
            raise RuntimeError("socket not connected")
        return self._channel_name

    @property
    def room_join_seq(self) -> int:
        session = self.session
        return 0 if session is None else session.room_join_seq

    def send_announcement(self, frame: str, member_seq: int) -> None:
        """A new member's announcement: held while this socket's own join runs (its number is not
        known yet), dropped when this socket joined after that member (its ack listed it)."""
        held = self._held_announcements
        if held is not None:
            held.append((frame, member_seq))
            if len(held) > MAX_HELD_ANNOUNCEMENTS:  # a join that never finished: stop holding
                self.release_announcements()
        elif self.room_join_seq <= member_seq:
            self.send_frame(frame)

    def hold_announcements(self) -> None:
        """This socket's room join starts: hold announcements until `release_announcements`."""
        if self._held_announcements is None:
            self._held_announcements = []

    def release_announcements(self) -> None:
        """The join is done (its number set on the session) or failed: send what was held."""
        held, self._held_announcements = self._held_announcements, None
        for frame, member_seq in held or ():
            self.send_announcement(frame, member_seq)

    def send_frame(self, frame: str) -> None:
        if self._closing:
            return
        wakeup = self._writer_wakeup
        if wakeup is not None and not wakeup.done() and self._suspended_send is None:
            # The writer sleeps and nothing is queued: write now, the frame's bytes as they are
            # if the server allows (direct_write.py), else through its send.
            direct = self._direct
            if direct is None or not direct.write(frame):
                self._send_now(frame, wakeup)
            return
        if len(self._outbox) >= MAX_QUEUED_FRAMES:
            logger.warning("socket %s is %d frames behind: closing it", self._channel_name, MAX_QUEUED_FRAMES)
            self.close(TRY_AGAIN_LATER, "client too slow")
            return
        self._queue(frame)

    def _send_now(self, frame: str, writer_wakeup: asyncio.Future[None]) -> None:
        """Run the server's send of `frame` here, up to its first wait (usually to the end), so a
        broadcast reaches each local socket without a task switch per socket."""
        steps = self._send({"type": "websocket.send", "text": frame}).__await__()
        try:
            waiting_on = next(steps)
        except StopIteration:
            return
        except Exception as exc:  # the peer is gone; the receive loop will see the disconnect
            _log_send_failure(self._channel_name, exc)
            self._closing = True
            return
        self._suspended_send = _ResumedSend(steps, waiting_on)
        writer_wakeup.set_result(None)

    def _queue(self, item: str | _Close) -> None:
        self._outbox.append(item)
        wakeup = self._writer_wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def join_group(self, group: str) -> None:
        if self._channel_name is None or self._closing or group in self._groups:
            return
        self._groups.add(group)
        await self.channel_layer.group_add(group, self._channel_name)

    async def leave_group(self, group: str) -> None:
        if self._channel_name is None or group not in self._groups:
            return
        self._groups.discard(group)
        await self.channel_layer.group_discard(group, self._channel_name)

    def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the websocket after the frames already queued."""
        if self._closing:
            return
        self._closing = True
        self._queue(_Close(code, reason))

    # --- running ---

    async def run(self, receive: ASGIReceive) -> None:
        """Serve the accepted websocket until the client goes away."""
        loop = asyncio.get_running_loop()
        _open_connections.add(self)
        self._tasks.append(asyncio.create_task(self._write_loop(), name="socket writer"))
        self.send_frame(codec.open_frame(
            self.engine_sid,
            ping_interval_ms=round(self.ping_interval * 1000),
            ping_timeout_ms=round(self.ping_timeout * 1000),
            max_payload=self.max_payload,
        ))
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="socket heartbeat"))
        connect_deadline = loop.call_later(self.connect_timeout, self._on_connect_timeout)
        server_stopping = False
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    self._on_frame(message.get("text"), message.get("bytes"))
                elif kind == "websocket.disconnect":
                    break
        except asyncio.CancelledError:
            server_stopping = True  # daphne cancels its applications at shutdown, then waits for them
            raise
        finally:
            connect_deadline.cancel()
            _open_connections.discard(self)
            self._closing = True
            for task in self._tasks:
                task.cancel()
            if self._channel_name is not None:
                unregister_local_socket(self._channel_name)
            # Detached: after a disconnect the server may cancel a consumer that lingers.
            cleanup = asyncio.create_task(self._cleanup(), name="socket cleanup")
            _detached.add(cleanup)
            cleanup.add_done_callback(_detached.discard)
            if server_stopping:
                await asyncio.wait({cleanup}, timeout=SHUTDOWN_CLEANUP_SECONDS)

    def _on_connect_timeout(self) -> None:
        if self.session is None:
            self.close(NORMAL_CLOSURE, "connect timeout")

    async def _write_loop(self) -> None:
        outbox = self._outbox
        loop = asyncio.get_running_loop()
        while True:
            suspended = self._suspended_send
            if suspended is not None:
                try:
                    await suspended
                except Exception as exc:  # the peer is gone, as below
                    _log_send_failure(self._channel_name, exc)
                    self._closing = True
                    return
                finally:
                    self._suspended_send = None
                continue
            if not outbox:
                self._writer_wakeup = loop.create_future()
                try:
                    await self._writer_wakeup
                finally:
                    self._writer_wakeup = None
                continue
            item = outbox.popleft()
            try:
                if isinstance(item, _Close):
                    await self._send_close(item)
                    return
                await self._send({"type": "websocket.send", "text": item})
            except Exception as exc:  # the peer is gone; the receive loop will see the disconnect
                _log_send_failure(self._channel_name, exc)
                self._closing = True
                return

    async def _send_close(self, close: _Close) -> None:
        try:
            await self._send({"type": "websocket.close", "code": close.code, "reason": close.reason})
        except Exception:
            if close.code == NORMAL_CLOSURE:
                raise
            # daphne (autobahn) lets applications use only 1000 and 3000-4999: say it with 1000.
            await self._send({"type": "websocket.close", "code": NORMAL_CLOSURE, "reason": close.reason})

    async def _heartbeat_loop(self) -> None:
        """engine.io's heartbeat: ping every interval, drop the peer if no pong within the timeout."""
        while not self._closing:
            await asyncio.sleep(self.ping_interval)
            self._pong.clear()
            self.send_frame(codec.PING_FRAME)
            try:
                await asyncio.wait_for(self._pong.wait(), self.ping_timeout)
            except TimeoutError:
                logger.info("socket %s: ping timeout", self._channel_name or self.engine_sid)
                self.close(NORMAL_CLOSURE, "ping timeout")
                return

    # --- frames from the client ---

    def _on_frame(self, text: str | None, data: bytes | None) -> None:
        if text is None:
            if data is not None and len(data) > self.max_payload:
                self.close(MESSAGE_TOO_BIG, "Max payload size exceeded")
            else:
                # Binary attachments are not part of this protocol's use; drop them.
                logger.debug("binary frame ignored on %s", self.engine_sid)
            return
        if _utf8_length_exceeds(text, self.max_payload):
            self.close(MESSAGE_TOO_BIG, "Max payload size exceeded")
            return
        try:
            packet = codec.decode_engine_packet(text)
        except ValueError:
            logger.debug("undecodable frame ignored on %s", self.engine_sid)
            return
        kind = packet.packet_type
        if kind == codec.EIO_PONG:
            self._pong.set()
        elif kind == codec.EIO_PING:
            self.send_frame(codec.pong_frame(packet.data))
        elif kind == codec.EIO_CLOSE:
            self.close(NORMAL_CLOSURE, "client close")
        elif kind == codec.EIO_MESSAGE and not packet.binary and isinstance(packet.data, str):
            self._on_socket_message(packet.data)
        # OPEN, UPGRADE, NOOP, base64 binary: nothing to do over a plain websocket.

    def _on_socket_message(self, text: str) -> None:
        try:
            packet = codec.decode_socket_packet(text)
        except ValueError:
            logger.debug("undecodable Socket.IO packet ignored on %s", self.engine_sid)
            return
        namespace = packet.namespace or "/"
        kind = packet.packet_type
        if kind == codec.SIO_CONNECT:
            if namespace != "/":
                self.send_frame(codec.connect_error_frame("Invalid namespace", namespace))
            elif self.session is None and self._connect_task is None and not self._closing:
                self._connect_task = asyncio.create_task(self._connect(packet.data), name="socket connect")
        elif namespace != "/" or self.session is None or self.events is None:
            return  # nothing but CONNECT is valid before the socket is connected
        elif kind in (codec.SIO_EVENT, codec.SIO_BINARY_EVENT):
            data = packet.data
            if isinstance(data, list) and data and isinstance(data[0], str):
                self.events.submit(data[0], data[1:], packet.id)
            else:
                logger.debug("malformed EVENT ignored on %s", self.session.sid)
        elif kind == codec.SIO_DISCONNECT:
            self.close(NORMAL_CLOSURE, "client namespace disconnect")
        # ACK (we never ask clients for acks) and CONNECT_ERROR from a client: ignored.

    # --- CONNECT ---

    async def _connect(self, auth: Any) -> None:
        try:
            handshake = Handshake.from_scope(self.scope, auth)
            user = await authenticate(handshake, config=self.services.config, redis=self.services.redis)
            if self._closing:
                return
            # The socket's channel name is its sid: emit(Socket(sid)) reaches it from any process.
            sid: str = await self.channel_layer.new_channel()
            self._channel_name = sid
            self._tasks.append(asyncio.create_task(self._channel_reader(sid), name="socket channel reader"))
            if self._closing:
                return  # the cleanup waiting for us releases the channel
            session = SocketSession(sid=sid, user=user, instance_id=await self._instance_id())
            register_local_socket(sid, self)
            self.session = session
            SOCKET_CONNECTIONS.inc()
            await self.join_group(EVERYONE_GROUP)
            await self._register_user_socket(session)
            self.events = EventRunner(self, session, self.services)
            self.send_frame(codec.connect_frame(sid))
        except HandshakeRejected as rejected:
            self.send_frame(codec.connect_error_frame(rejected.message))
        except Exception:
            logger.exception("socket setup failed after authentication")
            self.send_frame(codec.connect_error_frame(AUTHENTICATION_FAILED))
        finally:
            if self.session is None:
                self._connect_task = None  # a client may try CONNECT again (socket.io-client does)

    async def _instance_id(self) -> str | None:
        """This loop's web instance, started by its first socket (None if Redis refused)."""
        try:
            instance = web_instance(self.services, on_declared_dead=close_sockets_of_instance,
                                    on_reregistered=rerecord_sockets_of_instance)
            return await instance.ensure_started()
        except Exception as exc:  # like the registration: the socket still connects, unrecorded
            logger.warning("could not start the web instance: %r", exc)
            return None

    async def _register_user_socket(self, session: SocketSession) -> None:
        # Contract 1.6: only a truthy user id is registered under its user (the registry checks).
        try:
            await self.services.sockets.add(session.user, session.sid, instance_id=session.instance_id)
        except Exception as exc:  # the baseline's registration is fire-and-forget
            logger.warning("could not register socket %s of user %s: %r",
                           session.sid, session.user.get("id"), exc)

    async def _channel_reader(self, channel_name: str) -> None:
        while True:
            message = await self.channel_layer.receive(channel_name)
            try:
                self._on_channel_message(channel_name, message)
            except Exception:  # one bad message must not stop this socket's broadcasts
                CHANNEL_LAYER_ERRORS.labels(operation="channel_reader").inc()
                logger.exception("bad channel message on %s dropped: %.200r", channel_name, message)

    def _on_channel_message(self, channel_name: str, message: Any) -> None:
        if not isinstance(message, dict):
            raise TypeError("a channel message is a dict")
        kind = message.get("type")
        if kind == FRAME_MESSAGE_TYPE:
            frame = message.get("frame")
            if not isinstance(frame, str):
                raise TypeError("a frame message carries its frame as text")
            announced = message.get("member_seq")  # see emit.Room.new_member_seq
            if message.get("exclude") == channel_name:
                pass
            elif isinstance(announced, int):
                self.send_announcement(frame, announced)
            else:
                self.send_frame(frame)
            return
        handler = CHANNEL_MESSAGE_HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None and self.events is not None:
            self.events.submit_channel_message(handler, message)
        else:
            logger.debug("unhandled channel message %r on %s", kind, channel_name)

    # --- after the websocket is gone ---

    async def _cleanup(self) -> None:
        correlation_id_var.set(str(uuid.uuid4()))
        connect = self._connect_task
        if connect is not None and not connect.done():
            # Nobody is left to answer: stop the setup wherever it waits (channel layer,
            # registry) rather than wait for it; what it made is undone below.
            connect.cancel()
            await asyncio.wait({connect})
        # The setup may have started tasks after run() cancelled the others. Each is cancelled
        # once: cancelling again would interrupt the layer's unsubscribe inside the reader's
        # cancellation.
        for task in self._tasks:
            if not task.done() and not task.cancelling():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._channel_name is not None:
            await self._release_channel(self._channel_name)
        if self.events is not None:
            await self.events.drain(DRAIN_TIMEOUT_SECONDS)
        session = self.session
        if session is not None:
            unregister_local_socket(session.sid)
            await run_disconnect_cleanup(session, self.services.sockets, instance_id=session.instance_id)
            SOCKET_CONNECTIONS.dec()
        if self._channel_name is not None:
            for group in list(self._groups):
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(group, self._channel_name)
            self._groups.clear()
        # The finished tasks (and their exceptions' tracebacks) refer back to this connection:
        # let go of them, so the connection is freed when the server drops it, not only by a
        # full garbage collection.
        self._tasks.clear()
        self._connect_task = None
        self.events = None

    async def _release_channel(self, channel_name: str) -> None:
        """Drop the channel's queue and subscription (idempotent). Layers without
        `release_channel` drop them when a receive on the channel is cancelled."""
        release = getattr(self.channel_layer, "release_channel", None)
        with contextlib.suppress(Exception):
            if release is not None:
                await release(channel_name)
            else:
                await asyncio.wait_for(self.channel_layer.receive(channel_name), timeout=0.05)

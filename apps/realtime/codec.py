"""Engine.IO 4 / Socket.IO 5 framing for the websocket transport.

We reuse the packet classes of python-engineio and python-socketio
(`engineio.packet.Packet`, `socketio.packet.Packet`) instead of writing a parser:
they are the maintained reference implementation of exactly these two protocols
(the same revisions socket.io-client 4 speaks), small, pure Python and without
side effects, and their edge cases (ack ids, namespaces, attachment counts, the
"integer payload" rule) are already settled there. What this module adds: orjson
for JSON (fast, and like `JSON.parse` it refuses NaN/Infinity), no binary-event
scanning of outgoing payloads, and helpers that build whole websocket frames.

One websocket text frame carries one Engine.IO packet; an Engine.IO MESSAGE
carries one Socket.IO packet: `42["event",{...}]`, `43<id>[{...}]`, `40{...}`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from engineio import packet as eio
from pydantic import BaseModel
from socketio import packet as sio

# Engine.IO packet types.
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE, EIO_UPGRADE, EIO_NOOP = (
    eio.OPEN, eio.CLOSE, eio.PING, eio.PONG, eio.MESSAGE, eio.UPGRADE, eio.NOOP,
)
# Socket.IO packet types.
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR, SIO_BINARY_EVENT, SIO_BINARY_ACK = (
    sio.CONNECT, sio.DISCONNECT, sio.EVENT, sio.ACK, sio.CONNECT_ERROR, sio.BINARY_EVENT, sio.BINARY_ACK,
)

PING_FRAME = "2"
PONG_FRAME = "3"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class RawJson:
    """A JSON text that `dumps` embeds as it is (a value stored as JSON, such as a room member's
    participant entry, goes into a payload without being decoded and encoded again: a room's
    join ack lists every member). The text must be JSON: it is not checked."""

    __slots__ = ("fragment", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.fragment = orjson.Fragment(text)

    def __repr__(self) -> str:
        return f"RawJson({self.text!r})"


def _default(value: Any) -> Any:
    """What orjson leaves to us: RawJson, and what the stdlib path also handles."""
    if type(value) is RawJson:
        return value.fragment
    return _stdlib_default(value)


def _stdlib_default(value: Any) -> Any:
    """Pydantic models, as their JSON dump."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _expand_raw(value: Any) -> Any:
    """`value` with each RawJson decoded (the stdlib path, which cannot embed text as is)."""
    if isinstance(value, RawJson):
        return json.loads(value.text)
    if isinstance(value, dict):
        return {key: _expand_raw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_expand_raw(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Compact JSON like JSON.stringify; orjson first, the stdlib for what orjson refuses
    (integers beyond 64 bits, nesting deeper than 254, lone surrogates)."""
    try:
        return orjson.dumps(value, default=_default).decode()
    except TypeError:
        return json.dumps(_expand_raw(value), separators=(",", ":"), ensure_ascii=True, allow_nan=False,
                          default=_stdlib_default)


def loads(text: str | bytes) -> Any:
    """Strict JSON like JSON.parse; the stdlib only for what JavaScript accepts and orjson does
    not (lone surrogates, nesting deeper than 1024). Raises ValueError on anything else."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


class _JsonModule:
    """The `json` the packet classes call: `dumps(data, separators=...)` and `loads(text)`."""

    @staticmethod
    def dumps(value: Any, **_options: Any) -> str:
        return dumps(value)

    @staticmethod
    def loads(text: str, **_options: Any) -> Any:
        return loads(text)


class EngineIOPacket(eio.Packet):  # type: ignore[misc]
    json = _JsonModule


class SocketIOPacket(sio.Packet):  # type: ignore[misc]
    json = _JsonModule
    # We never send binary; skipping the scan saves a walk over every outgoing payload.
    uses_binary_events = False


def decode_engine_packet(text: str) -> EngineIOPacket:
    """One text frame -> Engine.IO packet. Raises ValueError if it is not one."""
    packet = EngineIOPacket(encoded_packet=text)
    if not isinstance(packet.packet_type, int) or not EIO_OPEN <= packet.packet_type <= EIO_NOOP:
        raise ValueError("unknown Engine.IO packet type")
    return packet


def decode_socket_packet(text: str) -> SocketIOPacket:
    """The data of an Engine.IO MESSAGE -> Socket.IO packet. Raises ValueError if it is not one."""
    try:
        packet = SocketIOPacket(encoded_packet=text)
    except (ValueError, TypeError, IndexError, RecursionError) as exc:
        raise ValueError(f"invalid Socket.IO packet: {exc}") from exc
    if not isinstance(packet.packet_type, int) or not SIO_CONNECT <= packet.packet_type <= SIO_BINARY_ACK:
        raise ValueError("unknown Socket.IO packet type")
    return packet


def _message(socket_packet: SocketIOPacket) -> str:
    encoded: str = socket_packet.encode()
    return str(EIO_MESSAGE) + encoded


def open_frame(engine_sid: str, *, ping_interval_ms: int, ping_timeout_ms: int, max_payload: int) -> str:
    handshake = {
        "sid": engine_sid,
        "upgrades": [],
        "pingInterval": ping_interval_ms,
        "pingTimeout": ping_timeout_ms,
        "maxPayload": max_payload,
    }
    encoded: str = EngineIOPacket(EIO_OPEN, handshake).encode()
    return encoded


def pong_frame(data: Any) -> str:
    """Answer to a client ping, echoing its data (`2probe` -> `3probe`)."""
    encoded: str = EngineIOPacket(EIO_PONG, data if isinstance(data, str) else None).encode()
    return encoded


def connect_frame(sid: str) -> str:
    return _message(SocketIOPacket(SIO_CONNECT, {"sid": sid}))


def connect_error_frame(message: str, namespace: str | None = None) -> str:
    return _message(SocketIOPacket(SIO_CONNECT_ERROR, {"message": message}, namespace=namespace))


def disconnect_frame() -> str:
    return _message(SocketIOPacket(SIO_DISCONNECT))


def event_frame(event: str, *args: Any) -> str:
    """`42["event",arg...]`: one server -> client event, encoded once for every receiver."""
    return _message(SocketIOPacket(SIO_EVENT, [event, *args]))


def ack_frame(ack_id: int, *args: Any) -> str:
    """`43<id>[arg...]`: the answer to a client event that asked for an acknowledgement."""
    return _message(SocketIOPacket(SIO_ACK, list(args), id=ack_id))

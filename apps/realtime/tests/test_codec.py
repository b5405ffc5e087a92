"""Engine.IO / Socket.IO frames, byte for byte as socket.io 4.8 writes them."""

from __future__ import annotations

import json

import pytest

from apps.realtime import codec


def test_open_frame_is_engine_io_handshake() -> None:
    frame = codec.open_frame("abc", ping_interval_ms=25000, ping_timeout_ms=20000, max_payload=1_000_000)
    assert (
        frame == '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
    )


def test_connect_frames() -> None:
    assert codec.connect_frame("s1") == '40{"sid":"s1"}'
    assert codec.connect_error_frame("Invalid credentials") == '44{"message":"Invalid credentials"}'
    assert (
        codec.connect_error_frame("Invalid namespace", "/admin") == '44/admin,{"message":"Invalid namespace"}'
    )


def test_event_and_ack_frames() -> None:
    assert codec.event_frame("seat:cleared", {"seatIndex": 3}) == '42["seat:cleared",{"seatIndex":3}]'
    assert codec.ack_frame(12, {"success": True}) == '4312[{"success":true}]'
    assert codec.event_frame("x", "é😀") == '42["x","é😀"]'


def test_pong_echoes_probe() -> None:
    assert codec.pong_frame("probe") == "3probe"
    assert codec.pong_frame(None) == "3"


def test_dumps_falls_back_for_what_orjson_refuses() -> None:
    assert codec.dumps({"n": 2**70}) == '{"n":1180591620717411303424}'
    deep: object = 1
    for _ in range(400):
        deep = [deep]
    assert json.loads(codec.dumps(deep)) == deep
    assert codec.dumps("\ud800") == '"\\ud800"'


def test_dumps_encodes_pydantic_models() -> None:
    from apps.realtime.schema import Payload

    class Seat(Payload):
        seatIndex: int

    assert codec.event_frame("seat:updated", Seat(seatIndex=2)) == '42["seat:updated",{"seatIndex":2}]'


def test_loads_refuses_nan_like_json_parse() -> None:
    with pytest.raises(ValueError):
        codec.loads("NaN")
    assert codec.loads('"\\ud800"') == "\ud800"


def test_decode_event_with_ack_id() -> None:
    engine = codec.decode_engine_packet('4217["room:join",{"roomId":"1"}]')
    assert engine.packet_type == codec.EIO_MESSAGE
    packet = codec.decode_socket_packet(engine.data)
    assert (packet.packet_type, packet.id, packet.data) == (
        codec.SIO_EVENT,
        17,
        ["room:join", {"roomId": "1"}],
    )


def test_decode_connect_with_namespace_and_auth() -> None:
    packet = codec.decode_socket_packet('0/admin,{"token":"t"}')
    assert (packet.packet_type, packet.namespace, packet.data) == (
        codec.SIO_CONNECT,
        "/admin",
        {"token": "t"},
    )


@pytest.mark.parametrize("text", ["", "x", "9", "7hello"])
def test_undecodable_engine_frames_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        codec.decode_engine_packet(text)


@pytest.mark.parametrize(
    "text",
    [
        "x",
        "2[",
        "9[]",
        "2" + "[" * 5000,
        "21234567890123456789012345678901234567890"
        "1234567890123456789012345678901234567890123456789012345678901234567890[]",
    ],
)
def test_undecodable_socket_packets_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        codec.decode_socket_packet(text)


def test_raw_json_is_embedded_as_is() -> None:
    entry = '{"id":7,"name":"a/b","isSpeaker":false}'
    value = {"participants": [codec.RawJson(entry), {"id": 8}]}
    assert codec.dumps(value) == '{"participants":[' + entry + ',{"id":8}]}'


def test_raw_json_survives_the_stdlib_path() -> None:
    big = 2**70  # beyond orjson's 64 bits: the stdlib writes it
    expected = '{"n":1180591620717411303424,"p":[{"id":7}]}'
    assert codec.dumps({"n": big, "p": [codec.RawJson('{"id":7}')]}) == expected

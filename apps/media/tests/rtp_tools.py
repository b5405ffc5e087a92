"""Plain RTP for the library's tests and bench: build/parse packets, UDP endpoints on loopback."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from apps.media.mediasoup import ListenInfo, RtpCodecCapability, RtpParameters


def loopback_udp(port: int = 0) -> ListenInfo:
    """Listen on 127.0.0.1 over UDP (port 0: the worker picks one in its range)."""
    info: ListenInfo = {"protocol": "udp", "ip": "127.0.0.1"}
    if port:
        info["port"] = port
    return info


AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
OPUS_CODEC: RtpCodecCapability = {
    "kind": "audio",
    "mimeType": "audio/opus",
    "clockRate": 48000,
    "channels": 2,
    "parameters": {"useinbandfec": 1, "usedtx": 0, "minptime": 10, "sprop-stereo": 1},
}
OPUS_PAYLOAD = bytes([0xFC]) + bytes(range(79))  # a TOC byte then 79 bytes: an Opus-sized 20 ms frame


def opus_producer_parameters(
    *, ssrc: int, payload_type: int = 100, audio_level_id: int | None = None
) -> RtpParameters:
    """RtpParameters of a plain-RTP Opus sender with one SSRC (and the audio level extension if asked)."""
    params: RtpParameters = {
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": payload_type,
                "clockRate": 48000,
                "channels": 2,
                "parameters": {"useinbandfec": 1, "usedtx": 0, "minptime": 10, "sprop-stereo": 1},
            }
        ],
        "encodings": [{"ssrc": ssrc}],
        "rtcp": {"cname": f"sender-{ssrc}"},
    }
    if audio_level_id is not None:
        params["headerExtensions"] = [{"uri": AUDIO_LEVEL_URI, "id": audio_level_id}]
    return params


def rtp_packet(
    *,
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    audio_level: int | None = None,
    audio_level_id: int = 1,
) -> bytes:
    """An RTP packet; with `audio_level` (0..127 = -dBov) it carries a one-byte ssrc-audio-level extension."""
    first = 0x80 | (0x10 if audio_level is not None else 0)
    header = struct.pack(
        "!BBHII", first, payload_type & 0x7F, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
    )
    if audio_level is not None:
        element = bytes([(audio_level_id << 4) | 0, 0x80 | (audio_level & 0x7F)])  # V=1: voice activity
        element += b"\x00\x00"  # pad to a 32-bit word
        header += struct.pack("!HH", 0xBEDE, 1) + element
    return header + payload


@dataclass(frozen=True)
class RtpHeader:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpHeader | None:
    """The fixed header and payload of an RTP packet (None for RTCP or junk)."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    payload_type = data[1] & 0x7F
    if 72 <= payload_type <= 76:  # RTCP packet types 200..204 with the marker bit
        return None
    sequence, timestamp, ssrc = struct.unpack_from("!HII", data, 2)
    offset = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        (length,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * length
    end = len(data) - (data[-1] if data[0] & 0x20 else 0)
    return RtpHeader(payload_type, sequence, timestamp, ssrc, bytes(data[offset:end]))


@dataclass
class UdpEndpoint(asyncio.DatagramProtocol):
    """A UDP socket on loopback that records what it receives."""

    received: list[bytes] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    got_packet: asyncio.Event = field(default_factory=asyncio.Event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)
        self.got_packet.set()

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def rtp(self) -> list[RtpHeader]:
        return [p for p in (parse_rtp(d) for d in self.received) if p is not None]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_udp_endpoint(host: str = "127.0.0.1") -> UdpEndpoint:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(UdpEndpoint, local_addr=(host, 0))
    return protocol


async def send_opus_stream(
    endpoint: UdpEndpoint,
    destination: tuple[str, int],
    *,
    ssrc: int,
    payload_type: int = 100,
    packets: int = 50,
    interval: float = 0.02,
    audio_level: int | Sequence[int] | None = None,
    audio_level_id: int = 1,
    first_sequence: int = 1000,
) -> int:
    """Send `packets` Opus-sized RTP packets paced every `interval` seconds; returns how many were sent.

    `audio_level` is one level (0..127, -dBov) or a pattern of levels repeated over the stream.
    """
    assert endpoint.transport is not None
    levels = [audio_level] if isinstance(audio_level, int) else list(audio_level) if audio_level else []
    start = time.monotonic()
    for index in range(packets):
        packet = rtp_packet(
            payload_type=payload_type,
            sequence=first_sequence + index,
            timestamp=960 * index,
            ssrc=ssrc,
            payload=OPUS_PAYLOAD,
            audio_level=levels[index % len(levels)] if levels else None,
            audio_level_id=audio_level_id,
        )
        endpoint.transport.sendto(packet, destination)
        delay = start + (index + 1) * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
    return packets


async def wait_for(predicate: Callable[[], object], within: float, interval: float = 0.02) -> bool:
    """Poll `predicate` until it is true or `within` seconds passed."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())

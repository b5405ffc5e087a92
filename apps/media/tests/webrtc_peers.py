"""Real clients for end-to-end media tests: python-socketio + pymediasoup + aiortc.

A `RoomPeer` connects with a JWT, joins a room and can speak (an aiortc track
playing a tone over a microphone's noise floor, switchable to the floor alone) or
listen (consume producers and decode their Opus into PCM, keeping per-producer
frame counts and levels).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import socketio
from aiortc import MediaStreamTrack
from av import AudioFrame
from pymediasoup import AiortcHandler, Device
from pymediasoup.rtp_parameters import RtpCapabilities

from tests.support.server import make_token, user_claims

SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms
# A real microphone's noise floor (white noise, RMS -45 dBov), under the tone and in "silence".
# The worker's dominant speaker detection ignores digital zeros and hears speech relative to this floor.
NOISE_FLOOR_DBOV = -45.0
NOISE_RMS = 32767 * 10 ** (NOISE_FLOOR_DBOV / 20)  # about 184, well below a listener's "loud" RMS of 500


class ToneTrack(MediaStreamTrack):
    """A microphone stand-in: a sine at `frequency` over a noise floor; the floor alone while not `loud`."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, *, loud: bool = True, syllables: bool = False) -> None:
        super().__init__()
        self.syllables = syllables
        self.frequency = frequency
        self.loud = loud
        self._sent = 0
        self._start: float | None = None
        self._noise = np.random.default_rng(int(frequency))

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sent / SAMPLE_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(FRAME_SAMPLES) + self._sent) / SAMPLE_RATE
        # With `syllables`: 240 ms of tone, then 100 ms of the floor alone, like speech.
        in_syllable = (self._sent // FRAME_SAMPLES) % 17 < 12
        amplitude = 12000 if self.loud and (in_syllable or not self.syllables) else 0
        tone = amplitude * np.sin(2 * math.pi * self.frequency * t)
        noise = self._noise.normal(0.0, NOISE_RMS, FRAME_SAMPLES)
        samples = np.clip(tone + noise, -32768, 32767).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sent += FRAME_SAMPLES
        return frame


@dataclass
class ReceivedAudio:
    """What a listener decoded from one producer."""

    frames: int = 0
    loud_frames: int = 0  # frames with RMS above the silence threshold
    first_frame_at: float | None = None
    first_loud_at: float | None = None
    frame_times: list[float] = field(default_factory=list)

    def frames_since(self, t: float) -> int:
        return sum(1 for x in self.frame_times if x >= t)


class RoomPeer:
    def __init__(self, url: str, user_id: int, room_id: str) -> None:
        self.url = url
        self.user_id = user_id
        self.room_id = room_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.join_ack: dict[str, Any] = {}
        self.device: Device | None = None
        self.send_transport: Any = None
        self.recv_transport: Any = None
        self.recv_transport_id: str | None = None
        self.track: ToneTrack | None = None
        self.producer: Any = None
        self.received: dict[str, ReceivedAudio] = {}
        self.consumers: dict[str, Any] = {}  # producer id -> pymediasoup consumer
        self._readers: list[asyncio.Task[None]] = []

    async def connect_and_join(self) -> dict[str, Any]:
        for name in ("audio:newProducer", "audio:producerClosed", "speaker:active", "room:closed"):
            self.sio.on(name, self._recorder(name))
        token = make_token(user_claims(self.user_id))
        await self.sio.connect(self.url, transports=["websocket"], auth={"token": token})
        self.join_ack = await self.call("room:join", {"roomId": self.room_id})
        self.device = Device(
            handlerFactory=AiortcHandler.createFactory(tracks=[self.track] if self.track else [])
        )
        await self.device.load(RtpCapabilities(**self.join_ack["rtpCapabilities"]))
        return self.join_ack

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.events.append((name, data))

        return record

    def events_named(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def call(self, event: str, payload: Any, wait: float = 15.0) -> dict[str, Any]:
        result: dict[str, Any] = await self.sio.call(event, payload, timeout=wait)
        return result

    async def _create_transport(self, kind: str) -> dict[str, Any]:
        ack = await self.call("transport:create", {"type": kind, "roomId": self.room_id})
        assert ack.get("success"), ack
        data: dict[str, Any] = ack["data"]
        return data

    async def speak(self, frequency: float = 440.0, *, loud: bool = True) -> str:
        """Create the send transport and produce the tone track; returns the producer id."""
        assert self.device is not None
        self.track = self.track or ToneTrack(frequency, loud=loud)
        data = await self._create_transport("producer")
        transport = self.device.createSendTransport(
            id=data["id"],
            iceParameters=data["iceParameters"],
            iceCandidates=data["iceCandidates"],
            dtlsParameters=data["dtlsParameters"],
            sctpParameters=None,
        )

        async def on_connect(dtls: Any) -> None:
            ack = await self.call(
                "transport:connect",
                {
                    "roomId": self.room_id,
                    "transportId": transport.id,
                    "dtlsParameters": dtls.model_dump(exclude_none=True),
                },
            )
            assert ack.get("success"), ack

        async def on_produce(kind: str, rtp_parameters: Any, app_data: Any) -> str:
            ack = await self.call(
                "audio:produce",
                {
                    "roomId": self.room_id,
                    "transportId": transport.id,
                    "kind": kind,
                    "rtpParameters": rtp_parameters.model_dump(exclude_none=True),
                },
            )
            assert ack.get("success"), ack
            return str(ack["data"]["id"])

        transport.on("connect", on_connect)
        transport.on("produce", on_produce)
        self.send_transport = transport
        self.producer = await transport.produce(track=self.track, stopTracks=False)
        return str(self.producer.id)

    async def listen(self) -> None:
        assert self.device is not None
        data = await self._create_transport("consumer")
        transport = self.device.createRecvTransport(
            id=data["id"],
            iceParameters=data["iceParameters"],
            iceCandidates=data["iceCandidates"],
            dtlsParameters=data["dtlsParameters"],
        )

        async def on_connect(dtls: Any) -> None:
            ack = await self.call(
                "transport:connect",
                {
                    "roomId": self.room_id,
                    "transportId": transport.id,
                    "dtlsParameters": dtls.model_dump(exclude_none=True),
                },
            )
            assert ack.get("success"), ack

        transport.on("connect", on_connect)
        self.recv_transport = transport
        self.recv_transport_id = transport.id

    async def consume(self, producer_id: str) -> dict[str, Any]:
        """audio:consume + consumer:resume; returns the resume ack. Decoded audio lands in `received`."""
        assert self.device is not None
        assert self.recv_transport is not None
        ack = await self.call(
            "audio:consume",
            {
                "roomId": self.room_id,
                "transportId": self.recv_transport_id,
                "producerId": producer_id,
                "rtpCapabilities": self.device.rtpCapabilities.model_dump(exclude_none=True),
            },
        )
        assert ack.get("success"), ack
        data = ack["data"]
        consumer = await self.recv_transport.consume(
            id=data["id"],
            producerId=data["producerId"],
            kind=data["kind"],
            rtpParameters=data["rtpParameters"],
        )
        self.consumers[producer_id] = consumer
        stats = self.received.setdefault(producer_id, ReceivedAudio())
        self._readers.append(asyncio.create_task(self._read(consumer.track, stats)))
        resume = await self.call("consumer:resume", {"roomId": self.room_id, "consumerId": data["id"]})
        assert resume.get("success"), resume
        return resume

    async def _read(self, track: Any, stats: ReceivedAudio) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await track.recv()
                now = time.monotonic()
                pcm = frame.to_ndarray().astype(np.float64)
                rms = float(np.sqrt(np.mean(pcm * pcm))) if pcm.size else 0.0
                stats.frames += 1
                stats.frame_times.append(now)
                stats.first_frame_at = stats.first_frame_at or now
                if rms > 500:
                    stats.loud_frames += 1
                    stats.first_loud_at = stats.first_loud_at or now

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for transport in (self.send_transport, self.recv_transport):
            if transport is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(transport.close(), 5)
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


async def wait_until(predicate: Any, within: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())

"""Real WebRTC peers (aiortc + pymediasoup) through the worker: ICE, DTLS, SRTP and Opus end to end.

mediasoup-worker built against Debian's OpenSSL crashed on the first DTLS ClientHello before the
build's patch; this test is what shows DTLS works: a tone goes in on one peer and comes out of the
other, decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import numpy as np
import pytest
from av import AudioFrame
from pymediasoup import AiortcHandler, Device
from pymediasoup.models.transport import DtlsParameters, IceCandidate, IceParameters
from pymediasoup.rtp_parameters import RtpCapabilities

from apps.media.mediasoup import MediaKind, Router, WebRtcTransport, Worker
from apps.media.tests.conftest import free_udp_port
from apps.media.tests.rtp_tools import loopback_udp, wait_for
from apps.media.tests.webrtc_peers import SAMPLE_RATE, ToneTrack

TONE_HZ = 440.0
LOOPBACK_UDP = loopback_udp()


def wire_transport(client_transport: Any, server_transport: WebRtcTransport) -> None:
    """The signalling a room server does, in process: the client's DTLS parameters go to the worker."""

    async def on_connect(dtls_parameters: Any) -> None:
        await server_transport.connect(dtls_parameters=dtls_parameters.model_dump(exclude_none=True))

    client_transport.on("connect", on_connect)


def client_transport_options(transport: WebRtcTransport) -> dict[str, Any]:
    """What the room server sends a client for a new transport, as pymediasoup's models."""
    return {
        "id": transport.id,
        "iceParameters": IceParameters(**transport.ice_parameters),
        "iceCandidates": [IceCandidate(**candidate) for candidate in transport.ice_candidates],
        "dtlsParameters": DtlsParameters(**transport.dtls_parameters),
    }


def mono_pcm(frame: AudioFrame) -> np.ndarray:
    pcm = frame.to_ndarray()
    channels = len(frame.layout.channels)
    return pcm.reshape(-1)[::channels].astype(np.float64)  # first channel of packed samples


def dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


@pytest.mark.slow
async def test_tone_from_one_webrtc_peer_reaches_another(worker: Worker, router: Router) -> None:
    server_port = free_udp_port()
    server = await worker.create_webrtc_server(listen_infos=[loopback_udp(server_port)])
    send_side = await router.create_webrtc_transport(webrtc_server=server)
    recv_side = await router.create_webrtc_transport(listen_infos=[LOOPBACK_UDP])
    states: dict[str, list[str]] = {"send ice": [], "send dtls": [], "recv ice": [], "recv dtls": []}
    tuples: list[Any] = []
    for name, transport in (("send", send_side), ("recv", recv_side)):
        transport.on("icestatechange", states[f"{name} ice"].append)
        transport.on("dtlsstatechange", states[f"{name} dtls"].append)
    send_side.on("iceselectedtuplechange", tuples.append)

    track = ToneTrack(TONE_HZ)
    sender = Device(handlerFactory=AiortcHandler.createFactory(tracks=[track]))
    receiver = Device(handlerFactory=AiortcHandler.createFactory(tracks=[]))
    client_send = client_recv = None
    reader: asyncio.Task[None] | None = None
    try:
        await sender.load(RtpCapabilities(**router.rtp_capabilities))
        await receiver.load(RtpCapabilities(**router.rtp_capabilities))

        client_send = sender.createSendTransport(**client_transport_options(send_side), sctpParameters=None)
        wire_transport(client_send, send_side)

        async def on_produce(kind: MediaKind, rtp_parameters: Any, app_data: Any) -> str:
            producer = await send_side.produce(
                kind=kind, rtp_parameters=rtp_parameters.model_dump(exclude_none=True)
            )
            return producer.id

        client_send.on("produce", on_produce)
        client_producer = await asyncio.wait_for(client_send.produce(track=track, stopTracks=False), 20)
        producer = router.get_producer(client_producer.id)
        assert producer is not None
        assert producer.kind == "audio"

        client_recv = receiver.createRecvTransport(**client_transport_options(recv_side))
        wire_transport(client_recv, recv_side)
        consumer = await recv_side.consume(
            producer_id=producer.id,
            rtp_capabilities=receiver.rtpCapabilities.model_dump(exclude_none=True),
            paused=True,
        )
        client_consumer = await asyncio.wait_for(
            client_recv.consume(
                id=consumer.id,
                producerId=producer.id,
                kind=consumer.kind,
                rtpParameters=consumer.rtp_parameters,
            ),
            20,
        )
        await consumer.resume()

        frames: list[np.ndarray] = []

        async def read_frames() -> None:
            while True:
                frames.append(mono_pcm(await client_consumer.track.recv()))

        reader = asyncio.create_task(read_frames())
        # 1.5 s of audio (75 frames) once it flows.
        assert await wait_for(lambda: len(frames) >= 75, 25), f"only {len(frames)} frames decoded"

        assert "connected" in states["send dtls"], states
        assert "connected" in states["recv dtls"], states
        assert {"connected", "completed"} & set(states["send ice"]), states
        assert send_side.dtls_state == recv_side.dtls_state == "connected"
        assert tuples
        assert tuples[-1]["localPort"] == server_port
        assert tuples[-1].get("remoteIp")
        audio = np.concatenate(frames[-50:])  # the last second: past the decoder's start-up
        rms = float(np.sqrt(np.mean(audio * audio)))
        assert rms > 1000, f"received audio is silent (RMS {rms:.0f})"
        assert abs(dominant_frequency(audio) - TONE_HZ) < 10
        stats = await producer.get_stats()
        assert stats[0]["packetCount"] >= 75
        assert (await consumer.get_stats())[0]["packetCount"] > 0
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        for client in (client_send, client_recv):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 5)
        track.stop()

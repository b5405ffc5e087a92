"""Real RTP through the worker: plain transports, pipes between routers and workers, speaker observers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from apps.media.mediasoup import (
    ActiveSpeakerObserver,
    AudioLevelObserverVolume,
    Consumer,
    DominantSpeaker,
    PlainTransport,
    Producer,
    Router,
    UnsupportedError,
    Worker,
)
from apps.media.tests.rtp_tools import (
    OPUS_CODEC,
    OPUS_PAYLOAD,
    UdpEndpoint,
    loopback_udp,
    open_udp_endpoint,
    opus_producer_parameters,
    send_opus_stream,
    wait_for,
)

LOOPBACK_UDP = loopback_udp()


async def plain_sender(
    router: Router, ssrc: int, audio_level_id: int | None = None
) -> tuple[Producer, PlainTransport]:
    transport = await router.create_plain_transport(listen_info=LOOPBACK_UDP, comedia=True, rtcp_mux=True)
    producer = await transport.produce(
        kind="audio", rtp_parameters=opus_producer_parameters(ssrc=ssrc, audio_level_id=audio_level_id)
    )
    return producer, transport


async def plain_listener(router: Router, producer_id: str) -> tuple[Consumer, UdpEndpoint]:
    """A plain transport sending `producer_id`'s RTP to a local UDP socket."""
    endpoint = await open_udp_endpoint()
    transport = await router.create_plain_transport(listen_info=LOOPBACK_UDP, comedia=False, rtcp_mux=True)
    await transport.connect(ip="127.0.0.1", port=endpoint.port)
    consumer = await transport.consume(producer_id=producer_id, rtp_capabilities=router.rtp_capabilities)
    return consumer, endpoint


async def stream_into(transport: PlainTransport, *, ssrc: int, packets: int, **kwargs: Any) -> None:
    sender = await open_udp_endpoint()
    try:
        await send_opus_stream(
            sender,
            (transport.tuple["localAddress"], transport.tuple["localPort"]),
            ssrc=ssrc,
            packets=packets,
            **kwargs,
        )
    finally:
        sender.close()


def assert_opus_forwarded(endpoint: UdpEndpoint, consumer: Consumer, *, at_least: int) -> None:
    packets = endpoint.rtp()
    assert len(packets) >= at_least, f"only {len(packets)} RTP packets arrived"
    encoding = consumer.rtp_parameters["encodings"][0]
    [codec] = [c for c in consumer.rtp_parameters["codecs"] if c["mimeType"] == "audio/opus"]
    assert {p.ssrc for p in packets} == {encoding["ssrc"]}
    assert {p.payload_type for p in packets} == {codec["payloadType"]}
    assert all(p.payload == OPUS_PAYLOAD for p in packets)
    sequences = [p.sequence for p in packets]
    assert sequences == sorted(sequences) or max(sequences) - min(sequences) > 60000  # in order (or wrapped)


async def test_plain_rtp_in_and_out(router: Router) -> None:
    producer, send = await plain_sender(router, ssrc=11111111)
    consumer, endpoint = await plain_listener(router, producer.id)
    tuples: list[Any] = []
    send.on("tuple", tuples.append)
    assert consumer.kind == "audio"
    assert not consumer.paused
    assert not consumer.producer_paused
    try:
        await stream_into(send, ssrc=11111111, packets=50)
        assert await wait_for(lambda: len(endpoint.rtp()) >= 45, 3)
        assert_opus_forwarded(endpoint, consumer, at_least=45)
        # comedia learnt our address from the first packet.
        assert tuples
        assert tuples[0]["remoteIp"] == "127.0.0.1"

        stats = await producer.get_stats()
        assert stats[0]["packetCount"] >= 45
        consumer_stats = await consumer.get_stats()
        assert any(s.get("packetCount", 0) >= 45 for s in consumer_stats)

        # A paused producer forwards nothing; consumers hear about it.
        paused_events: list[str] = []
        consumer.on("producerpause", lambda: paused_events.append("pause"))
        consumer.on("producerresume", lambda: paused_events.append("resume"))
        await producer.pause()
        assert producer.paused
        assert await wait_for(lambda: consumer.producer_paused, 2)
        before = len(endpoint.rtp())
        await stream_into(send, ssrc=11111111, packets=10, first_sequence=1050)
        await asyncio.sleep(0.1)
        assert len(endpoint.rtp()) == before
        await producer.resume()
        assert await wait_for(lambda: not consumer.producer_paused, 2)
        assert paused_events == ["pause", "resume"]
    finally:
        endpoint.close()


async def test_pipe_to_router_on_another_worker(router: Router, second_worker: Worker) -> None:
    remote_router = await second_worker.create_router(media_codecs=[OPUS_CODEC])
    producer, send = await plain_sender(router, ssrc=22222222)

    result = await router.pipe_to_router(producer_id=producer.id, router=remote_router)

    assert result.pipe_producer.id == producer.id
    assert remote_router.get_producer(producer.id) is result.pipe_producer
    consumer, endpoint = await plain_listener(remote_router, producer.id)
    try:
        await stream_into(send, ssrc=22222222, packets=50)
        assert await wait_for(lambda: len(endpoint.rtp()) >= 45, 3)
        assert_opus_forwarded(endpoint, consumer, at_least=45)

        # A second pipe of the same pair reuses the pipe transports.
        other, _ = await plain_sender(router, ssrc=22222223)
        await router.pipe_to_router(producer_id=other.id, router=remote_router)
        assert len([t for t in router.transports if t.type == "pipe"]) == 1
        assert len([t for t in remote_router.transports if t.type == "pipe"]) == 1

        # Closing the source closes the piped producer and its consumers in the other worker.
        await producer.close()
        assert await wait_for(lambda: result.pipe_producer.closed and consumer.closed, 3)
        assert remote_router.get_producer(producer.id) is None
    finally:
        endpoint.close()


async def test_pipe_between_routers_of_one_worker_needs_new_ids(worker: Worker, router: Router) -> None:
    other_router = await worker.create_router(media_codecs=[OPUS_CODEC])
    producer, send = await plain_sender(router, ssrc=33333333)
    with pytest.raises(UnsupportedError, match="keep_id"):
        await router.pipe_to_router(producer_id=producer.id, router=other_router, keep_id=True)

    result = await router.pipe_to_router(producer_id=producer.id, router=other_router, keep_id=False)

    new_id = result.pipe_producer.id
    assert new_id != producer.id
    consumer, endpoint = await plain_listener(other_router, new_id)
    try:
        await stream_into(send, ssrc=33333333, packets=50)
        assert await wait_for(lambda: len(endpoint.rtp()) >= 45, 3)
        assert_opus_forwarded(endpoint, consumer, at_least=45)
        # Pausing the source pauses the piped producer (through the pipe consumer's events).
        await producer.pause()
        assert await wait_for(lambda: result.pipe_producer.paused and consumer.producer_paused, 3)
    finally:
        endpoint.close()


async def test_active_speaker_and_audio_levels_follow_the_loud_producer(router: Router) -> None:
    loud, loud_send = await plain_sender(router, ssrc=44444444, audio_level_id=1)
    quiet, quiet_send = await plain_sender(router, ssrc=55555555, audio_level_id=1)
    speakers: ActiveSpeakerObserver = await router.create_active_speaker_observer(interval=100)
    levels = await router.create_audio_level_observer(max_entries=2, threshold=-60, interval=250)
    added: list[Producer] = []
    speakers.observer.on("addproducer", added.append)
    dominant: list[DominantSpeaker] = []
    speakers.on("dominantspeaker", dominant.append)
    volumes: list[list[AudioLevelObserverVolume]] = []
    levels.on("volumes", volumes.append)
    for producer in (loud, quiet):
        await speakers.add_producer(producer_id=producer.id)
        await levels.add_producer(producer_id=producer.id)
    assert added == [loud, quiet]
    assert set((await router.dump())["mapProducerIdObserverIds"][loud.id]) == {speakers.id, levels.id}

    # 3 s of a speaker (a -30 dBov noise floor, then speech at -10 dBov) against a steady -120 dBov.
    # The dominant speaker algorithm measures speech above each producer's own floor, so it needs both.
    await asyncio.gather(
        stream_into(loud_send, ssrc=44444444, packets=150, audio_level=[30] * 10 + [10] * 40),
        stream_into(quiet_send, ssrc=55555555, packets=150, audio_level=120),
    )
    assert await wait_for(lambda: bool(dominant) and dominant[-1].producer is loud, 3)
    assert volumes, "no volumes event"
    assert {v.producer.id for batch in volumes for v in batch} == {loud.id}
    assert all(-25 <= v.volume <= -5 for batch in volumes for v in batch)

    # Nobody speaks any more: the audio level observer reports silence.
    silence: list[bool] = []
    levels.on("silence", lambda: silence.append(True))
    assert await wait_for(lambda: bool(silence), 3)

    await speakers.remove_producer(producer_id=loud.id)
    assert (await router.dump())["mapProducerIdObserverIds"][loud.id] == [levels.id]
    await speakers.pause()
    assert speakers.paused
    await speakers.resume()



async def test_closing_both_ends_of_a_pipe_logs_no_error(
    worker: Worker, second_worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    """A room's close closes its routers one after the other. The first takes its pipe transport
    along, whose other end must not then be closed by request while its own router is closing
    too: the worker would answer NotFound and log an error for every room closed."""
    with caplog.at_level(logging.WARNING):
        for round_ in range(10):
            source = await worker.create_router(media_codecs=[OPUS_CODEC])
            distribution = await second_worker.create_router(media_codecs=[OPUS_CODEC])
            producer, _send = await plain_sender(source, ssrc=33333300 + round_)
            await source.pipe_to_router(producer_id=producer.id, router=distribution)
            await distribution.close()
            await source.close()
        await asyncio.sleep(0.3)  # worker log lines arrive on their own pipe
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert problems == []

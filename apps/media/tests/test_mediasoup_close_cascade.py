"""Closing a worker, router, transport, producer or WebRtcServer: every child closes once, nothing is left."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from apps.media.mediasoup import Router, Worker
from apps.media.mediasoup.remote_object import RemoteObject
from apps.media.tests.conftest import free_udp_port
from apps.media.tests.rtp_tools import OPUS_CODEC, loopback_udp, opus_producer_parameters, wait_for

LOOPBACK_UDP = loopback_udp()
CLOSE_EVENTS = (
    "@close",
    "workerclose",
    "routerclose",
    "transportclose",
    "producerclose",
    "listenserverclose",
    "subprocessclose",
    "died",
)


@dataclass
class CloseLog:
    """Counts every close event of every watched object, by (name, event)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def watch(self, name: str, obj: Any) -> None:
        for event in CLOSE_EVENTS:
            obj.on(event, lambda *_, event=event: self.counts.update([(name, event)]))
        obj.observer.on("close", lambda: self.counts.update([(name, "observer close")]))

    def of(self, name: str) -> dict[str, int]:
        return {event: n for (who, event), n in self.counts.items() if who == name}


@dataclass
class RoomTree:
    """A router with one of everything: WebRTC transports (server, own ports), plain send/recv, observers."""

    router: Router
    objects: dict[str, RemoteObject]


async def build_room(worker: Worker, log: CloseLog, prefix: str, server: Any) -> RoomTree:
    router = await worker.create_router(media_codecs=[OPUS_CODEC])
    webrtc_on_server = await router.create_webrtc_transport(webrtc_server=server)
    webrtc_own = await router.create_webrtc_transport(listen_infos=[LOOPBACK_UDP])
    send = await router.create_plain_transport(listen_info=LOOPBACK_UDP, comedia=True)
    recv = await router.create_plain_transport(listen_info=LOOPBACK_UDP)
    producer = await send.produce(kind="audio", rtp_parameters=opus_producer_parameters(ssrc=2222))
    consumer = await recv.consume(producer_id=producer.id, rtp_capabilities=router.rtp_capabilities)
    speaker = await router.create_active_speaker_observer()
    levels = await router.create_audio_level_observer(max_entries=2, threshold=-70, interval=800)
    await speaker.add_producer(producer_id=producer.id)
    await levels.add_producer(producer_id=producer.id)
    objects: dict[str, RemoteObject] = {
        "router": router,
        "webrtc_on_server": webrtc_on_server,
        "webrtc_own": webrtc_own,
        "send": send,
        "recv": recv,
        "producer": producer,
        "consumer": consumer,
        "speaker": speaker,
        "levels": levels,
    }
    for name, obj in objects.items():
        log.watch(f"{prefix}.{name}", obj)
    return RoomTree(router, objects)


def expected_after_router_cascade(prefix: str, router_event: str) -> dict[str, dict[str, int]]:
    once = {"observer close": 1}
    return {
        f"{prefix}.router": {router_event: 1, **once},
        **{
            f"{prefix}.{t}": {"routerclose": 1, **once}
            for t in ("webrtc_on_server", "webrtc_own", "send", "recv")
        },
        f"{prefix}.producer": {"transportclose": 1, **once},
        f"{prefix}.consumer": {"transportclose": 1, **once},
        f"{prefix}.speaker": {"routerclose": 1, **once},
        f"{prefix}.levels": {"routerclose": 1, **once},
    }


async def test_router_close_cascades_once_and_leaves_nothing(worker: Worker) -> None:
    log = CloseLog()
    server = await worker.create_webrtc_server(listen_infos=[loopback_udp(free_udp_port())])
    room = await build_room(worker, log, "a", server)
    other = await build_room(worker, log, "b", server)
    assert len((await server.dump())["webRtcTransportIds"]) == 2

    await room.router.close()

    for name, events in expected_after_router_cascade("a", "@close").items():
        assert log.of(name) == events, name
    assert all(obj.closed for obj in room.objects.values())
    assert not any(key[0].startswith("b.") for key in log.counts), "the other router was touched"
    dump = await worker.dump()
    assert dump["routerIds"] == [other.router.id]
    assert (await server.dump())["webRtcTransportIds"] == [other.objects["webrtc_on_server"].id]
    assert [t.id for t in server.webrtc_transports] == [other.objects["webrtc_on_server"].id]
    assert worker.routers == [other.router]
    assert not (worker.channel.handler_ids & {obj.id for obj in room.objects.values()})
    assert worker.channel.pending_count == 0
    await room.router.close()  # closing again is a no-op
    for name, events in expected_after_router_cascade("a", "@close").items():
        assert log.of(name) == events, name


async def test_worker_close_cascades_once(mediasoup_worker_bin: str) -> None:
    from apps.media.mediasoup import create_worker

    worker = await create_worker(log_level="warn", worker_bin=mediasoup_worker_bin)
    log = CloseLog()
    log.watch("worker", worker)
    server = await worker.create_webrtc_server(listen_infos=[loopback_udp(free_udp_port())])
    log.watch("server", server)
    rooms = [await build_room(worker, log, prefix, server) for prefix in ("a", "b")]

    await worker.close()

    assert log.of("worker") == {"subprocessclose": 1, "observer close": 1}
    assert log.of("server") == {"workerclose": 1, "observer close": 1}
    for prefix in ("a", "b"):
        for name, events in expected_after_router_cascade(prefix, "workerclose").items():
            assert log.of(name) == events, name
    assert all(obj.closed for room in rooms for obj in room.objects.values())
    assert worker.closed
    assert not worker.died
    assert worker.subprocess_closed
    assert worker.routers == []
    assert worker.webrtc_servers == []
    assert worker.channel.closed
    assert worker.channel.pending_count == 0
    await worker.close()
    assert log.of("worker") == {"subprocessclose": 1, "observer close": 1}


async def test_transport_close_closes_its_producers_and_their_consumers(router: Router) -> None:
    log = CloseLog()
    send = await router.create_plain_transport(listen_info=LOOPBACK_UDP, comedia=True)
    recv = await router.create_plain_transport(listen_info=LOOPBACK_UDP)
    producer = await send.produce(kind="audio", rtp_parameters=opus_producer_parameters(ssrc=3333))
    consumer = await recv.consume(producer_id=producer.id, rtp_capabilities=router.rtp_capabilities)
    for name, obj in {"send": send, "recv": recv, "producer": producer, "consumer": consumer}.items():
        log.watch(name, obj)

    await send.close()

    assert log.of("send") == {"@close": 1, "observer close": 1}
    assert log.of("producer") == {"transportclose": 1, "observer close": 1}
    # The consumer lives in another transport: the worker tells it its producer is gone.
    assert await wait_for(lambda: consumer.closed, 2)
    assert log.of("consumer") == {"producerclose": 1, "observer close": 1}
    assert log.of("recv") == {}
    assert recv.consumers == []
    assert router.producers == []
    dump = await router.dump()
    assert dump["transportIds"] == [recv.id]
    assert dump["mapProducerIdConsumerIds"] == {}
    assert dump["mapConsumerIdProducerId"] == {}


async def test_producer_close_closes_consumers_once(router: Router) -> None:
    log = CloseLog()
    send = await router.create_plain_transport(listen_info=LOOPBACK_UDP, comedia=True)
    recv = await router.create_plain_transport(listen_info=LOOPBACK_UDP)
    producer = await send.produce(kind="audio", rtp_parameters=opus_producer_parameters(ssrc=4444))
    consumers = [
        await recv.consume(producer_id=producer.id, rtp_capabilities=router.rtp_capabilities)
        for _ in range(3)
    ]
    log.watch("producer", producer)
    for index, consumer in enumerate(consumers):
        log.watch(f"consumer{index}", consumer)

    await producer.close()
    assert await wait_for(lambda: all(c.closed for c in consumers), 2)

    assert log.of("producer") == {"@close": 1, "observer close": 1}
    for index in range(3):
        assert log.of(f"consumer{index}") == {"producerclose": 1, "observer close": 1}
    assert send.producers == []
    assert recv.consumers == []
    assert (await router.dump())["mapProducerIdConsumerIds"] == {}


async def test_webrtc_server_close_closes_its_transports(worker: Worker, router: Router) -> None:
    log = CloseLog()
    server = await worker.create_webrtc_server(listen_infos=[loopback_udp(free_udp_port())])
    on_server = await router.create_webrtc_transport(webrtc_server=server)
    own = await router.create_webrtc_transport(listen_infos=[LOOPBACK_UDP])
    log.watch("server", server)
    log.watch("on_server", on_server)
    log.watch("own", own)

    await server.close()

    assert log.of("server") == {"@close": 1, "observer close": 1}
    assert log.of("on_server") == {"listenserverclose": 1, "observer close": 1}
    assert log.of("own") == {}
    assert router.transports == [own]
    assert (await router.dump())["transportIds"] == [own.id]
    assert (await worker.dump())["webRtcServerIds"] == []


async def test_concurrent_closes_fire_once(router: Router) -> None:
    import asyncio

    log = CloseLog()
    transport = await router.create_plain_transport(listen_info=LOOPBACK_UDP)
    log.watch("transport", transport)
    await asyncio.gather(transport.close(), transport.close(), router.close())
    assert log.of("transport") in (
        {"@close": 1, "observer close": 1},
        {"routerclose": 1, "observer close": 1},
    )


async def test_closing_each_child_leaves_the_router_empty(worker: Worker) -> None:
    log = CloseLog()
    server = await worker.create_webrtc_server(listen_infos=[loopback_udp(free_udp_port())])
    room = await build_room(worker, log, "a", server)
    children = [obj for name, obj in room.objects.items() if name not in ("router", "producer", "consumer")]

    for child in children:
        await child.close()

    dump = await room.router.dump()
    assert dump["transportIds"] == []
    assert dump["rtpObserverIds"] == []
    assert dump["mapProducerIdConsumerIds"] == {}
    assert dump["mapConsumerIdProducerId"] == {}
    assert dump["mapProducerIdObserverIds"] == {}
    assert room.router.transports == []
    assert room.router.producers == []
    assert room.router.rtp_observers == []
    assert worker.channel.handler_ids.isdisjoint(obj.id for obj in room.objects.values())
    for name in ("webrtc_on_server", "webrtc_own", "send", "recv", "speaker", "levels"):
        assert log.of(f"a.{name}") == {"@close": 1, "observer close": 1}, name
    assert log.of("a.producer") == {"transportclose": 1, "observer close": 1}
    # `send` closed before `recv`: the worker's CONSUMER_PRODUCER_CLOSE reached the consumer first.
    assert log.of("a.consumer") == {"producerclose": 1, "observer close": 1}

"""Random parameters never crash the worker: the library refuses them or the worker answers an error.

mediasoup-worker does not verify the FlatBuffers it gets, so a missing required field or an
out-of-range value would crash it; everything here must come back as a typed exception.
Hypothesis drives each library call on a loop of the test's own (it cannot await).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.media.mediasoup import (
    NotFoundError,
    PlainTransport,
    Producer,
    Router,
    UnsupportedError,
    Worker,
    WorkerRequestError,
    create_worker,
)
from apps.media.mediasoup.remote_object import RemoteObject
from apps.media.mediasoup.rtp_parameters_fbs import HEADER_EXTENSION_URI_TO_FBS
from apps.media.tests.rtp_tools import OPUS_CODEC, loopback_udp, opus_producer_parameters

# What a caller may see for bad input: refused locally, or refused by the worker.
EXPECTED = (TypeError, ValueError, UnsupportedError, NotFoundError, WorkerRequestError)
FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MEDIA_CODECS: list[Any] = [
    OPUS_CODEC,
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
    {
        "kind": "video",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {"packetization-mode": 1, "profile-level-id": "42e01f", "level-asymmetry-allowed": 1},
    },
]

junk = st.one_of(
    st.none(), st.integers(-5, 5), st.text(max_size=4), st.lists(st.integers(), max_size=2), st.booleans()
)
numbers = st.one_of(
    st.integers(-3, 300), st.integers(0, 2**34), st.sampled_from([0, 127, 128, 255, 256, 2**32 - 1])
)
parameter_values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.booleans(),
    st.lists(st.integers(-(2**40), 2**40), max_size=3),
    junk,
)
parameters = st.dictionaries(
    st.one_of(
        st.sampled_from(["apt", "profile-level-id", "packetization-mode", "useinbandfec"]),
        st.text(max_size=6),
    ),
    parameter_values,
    max_size=3,
)
mime_types = st.one_of(
    st.sampled_from(
        ["audio/opus", "audio/OPUS", "video/VP8", "video/H264", "video/rtx", "audio/PCMU", "audio/", ""]
    ),
    st.text(max_size=10),
)
codecs = st.fixed_dictionaries(
    {
        "mimeType": mime_types,
        "payloadType": numbers,
        "clockRate": st.one_of(st.sampled_from([48000, 90000]), numbers),
    },
    optional={
        "channels": numbers,
        "parameters": st.one_of(parameters, junk),
        "rtcpFeedback": st.lists(
            st.fixed_dictionaries(
                {"type": st.text(max_size=5)}, optional={"parameter": st.one_of(st.text(max_size=5), junk)}
            ),
            max_size=2,
        ),
    },
)
encodings = st.fixed_dictionaries(
    {},
    optional={
        "ssrc": numbers,
        "rid": st.one_of(st.text(max_size=4), junk),
        "codecPayloadType": numbers,
        "rtx": st.one_of(st.fixed_dictionaries({"ssrc": numbers}), junk),
        "dtx": st.one_of(st.booleans(), junk),
        "scalabilityMode": st.sampled_from(["L1T3", "S3T3", "L9T9_KEY", "bogus", ""]),
        "maxBitrate": st.one_of(numbers, st.integers(-1, 2**70)),
    },
)
header_extensions = st.fixed_dictionaries(
    {"uri": st.sampled_from([*HEADER_EXTENSION_URI_TO_FBS, "urn:x", ""]), "id": numbers},
    optional={"encrypt": st.one_of(st.booleans(), junk), "parameters": parameters},
)
rtp_parameters = st.fixed_dictionaries(
    {"codecs": st.one_of(st.lists(codecs, max_size=3), junk)},
    optional={
        "encodings": st.one_of(st.lists(encodings, max_size=3), junk),
        "headerExtensions": st.one_of(st.lists(header_extensions, max_size=3), junk),
        "rtcp": st.one_of(
            st.fixed_dictionaries(
                {}, optional={"cname": st.one_of(st.text(max_size=5), junk), "reducedSize": junk}
            ),
            junk,
        ),
        "mid": st.one_of(st.text(max_size=4), junk),
        "msid": st.text(max_size=6),
    },
)
# Mostly-valid Opus parameters with one value pushed around: these get all the way to the worker.
near_valid_opus = st.builds(
    lambda pt, clock, channels, ssrc, ext_id, cname: {
        "codecs": [{"mimeType": "audio/opus", "payloadType": pt, "clockRate": clock, "channels": channels}],
        "encodings": [{"ssrc": ssrc}],
        "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": ext_id}],
        "rtcp": {"cname": cname},
    },
    st.one_of(st.just(100), numbers),
    st.one_of(st.just(48000), numbers),
    st.one_of(st.just(2), numbers),
    st.one_of(st.just(1234), numbers),
    st.one_of(st.just(1), numbers),
    st.one_of(st.just("c"), st.text(max_size=3)),
)
capabilities = st.fixed_dictionaries(
    {},
    optional={
        "codecs": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "kind": st.sampled_from(["audio", "video", "x"]),
                        "mimeType": mime_types,
                        "clockRate": numbers,
                    },
                    optional={"preferredPayloadType": numbers, "channels": numbers, "parameters": parameters},
                ),
                max_size=3,
            ),
            junk,
        ),
        "headerExtensions": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "kind": st.sampled_from(["audio", "video"]),
                        "uri": st.text(max_size=5),
                        "preferredId": numbers,
                    }
                ),
                max_size=2,
            ),
            junk,
        ),
    },
)
dtls_parameters = st.fixed_dictionaries(
    {
        "fingerprints": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "algorithm": st.sampled_from(["sha-1", "sha-256", "sha-512", "md5", ""]),
                        "value": st.text(max_size=8),
                    }
                ),
                max_size=2,
            ),
            junk,
        )
    },
    optional={"role": st.one_of(st.sampled_from(["auto", "client", "server", "both"]), junk)},
)
listen_infos = st.fixed_dictionaries(
    {
        "protocol": st.sampled_from(["udp", "tcp", "sctp"]),
        "ip": st.sampled_from(["127.0.0.1", "::1", "0.0.0.0", "x"]),
    },
    optional={
        "port": st.one_of(st.just(0), numbers),
        "announcedAddress": st.one_of(st.text(max_size=5), junk),
        "portRange": st.fixed_dictionaries({"min": numbers, "max": numbers}),
        "flags": st.fixed_dictionaries(
            {}, optional={"ipv6Only": st.booleans(), "udpReusePort": st.booleans()}
        ),
        "sendBufferSize": numbers,
        "recvBufferSize": numbers,
    },
)


class FuzzRoom:
    """A worker with a router, plain send/recv transports and one real producer, on the test's own loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, worker: Worker, router: Router) -> None:
        self.loop = loop
        self.worker = worker
        self.router = router
        self.send: PlainTransport | None = None
        self.recv: PlainTransport | None = None
        self.producer: Producer | None = None

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(coroutine)

    def attempt(self, make: Callable[[], Awaitable[object]]) -> None:
        """Call the library; a success is undone, an error must be an expected one; the worker lives."""

        async def call() -> None:
            try:
                created = await make()
            except EXPECTED:
                pass
            else:
                if isinstance(created, RemoteObject):
                    await created.close()
            assert not self.worker.died, "the worker died"

        self.run(call())


def open_room(worker_bin: str) -> FuzzRoom:
    loop = asyncio.new_event_loop()

    async def start() -> FuzzRoom:
        worker = await create_worker(log_level="none", worker_bin=worker_bin)
        room = FuzzRoom(loop, worker, await worker.create_router(media_codecs=MEDIA_CODECS))
        room.send = await room.router.create_plain_transport(listen_info=loopback_udp(), comedia=True)
        room.recv = await room.router.create_plain_transport(listen_info=loopback_udp())
        room.producer = await room.send.produce(
            kind="audio", rtp_parameters=opus_producer_parameters(ssrc=999)
        )
        return room

    return loop.run_until_complete(start())


def close_room(room: FuzzRoom) -> None:
    try:
        dump = room.run(room.worker.dump())
        assert dump["pid"] == room.worker.pid
        assert not room.worker.died
    finally:
        room.run(room.worker.close())
        room.loop.close()


def test_random_produce_parameters_never_crash_the_worker(mediasoup_worker_bin: str) -> None:
    room = open_room(mediasoup_worker_bin)
    try:

        @FUZZ_SETTINGS
        # Near-valid parameters twice as often as random ones: those are what reaches the worker.
        @given(
            params=st.one_of(near_valid_opus, near_valid_opus, rtp_parameters),
            kind=st.sampled_from(["audio", "audio", "video", "data"]),
        )
        def produce(params: Any, kind: Any) -> None:
            assert room.send is not None
            transport = room.send
            room.attempt(lambda: transport.produce(kind=kind, rtp_parameters=params))

        produce()
    finally:
        close_room(room)


def test_random_consume_capabilities_and_connect_parameters_never_crash_the_worker(
    mediasoup_worker_bin: str,
) -> None:
    room = open_room(mediasoup_worker_bin)
    try:

        @FUZZ_SETTINGS
        @given(caps=capabilities, dtls=dtls_parameters, paused=st.booleans())
        def consume_and_connect(caps: Any, dtls: Any, paused: bool) -> None:
            assert room.recv is not None
            assert room.producer is not None
            recv, producer_id = room.recv, room.producer.id
            room.attempt(lambda: recv.consume(producer_id=producer_id, rtp_capabilities=caps, paused=paused))

            async def connect() -> None:
                transport = await room.router.create_webrtc_transport(listen_infos=[loopback_udp()])
                try:
                    await transport.connect(dtls_parameters=dtls)
                finally:
                    await transport.close()

            room.attempt(connect)

        consume_and_connect()
    finally:
        close_room(room)


def test_random_listen_infos_never_crash_the_worker(mediasoup_worker_bin: str) -> None:
    room = open_room(mediasoup_worker_bin)
    try:

        @FUZZ_SETTINGS
        @given(info=listen_infos, rtcp_mux=st.booleans(), comedia=st.booleans())
        def create_transports(info: Any, rtcp_mux: bool, comedia: bool) -> None:
            router = room.router
            room.attempt(
                lambda: router.create_plain_transport(listen_info=info, rtcp_mux=rtcp_mux, comedia=comedia)
            )
            room.attempt(lambda: router.create_webrtc_transport(listen_infos=[info]))
            room.attempt(lambda: router.create_pipe_transport(listen_info=info))

        create_transports()
    finally:
        close_room(room)

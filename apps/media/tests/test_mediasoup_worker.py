"""The mediasoup library against a real worker: channel, objects, errors, and a worker killed under it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from apps.media.mediasoup import (
    InvalidStateError,
    NotFoundError,
    Router,
    Worker,
    WorkerBinaryNotFoundError,
    WorkerDiedError,
    WorkerRequestError,
    WorkerSpawnError,
    create_worker,
    resolve_worker_binary,
)
from apps.media.tests.conftest import free_udp_port
from apps.media.tests.rtp_tools import OPUS_CODEC, loopback_udp, opus_producer_parameters, wait_for

LOOPBACK_UDP = loopback_udp()


async def test_worker_starts_and_reports_itself(worker: Worker) -> None:
    dump = await worker.dump()
    assert dump["pid"] == worker.pid
    assert dump["routerIds"] == []
    assert dump["webRtcServerIds"] == []

    usage = await worker.get_resource_usage()
    assert usage["ru_maxrss"] > 0
    assert set(usage) >= {"ru_utime", "ru_stime", "ru_nvcsw"}

    await worker.update_settings(log_level="debug", log_tags=["info", "ice", "dtls"])
    await worker.update_settings(log_level="warn")
    with pytest.raises(ValueError, match="log tag"):
        await worker.update_settings(log_tags=["nonsense"])  # type: ignore[list-item]


async def test_router_gets_flylive_opus_capabilities(worker: Worker) -> None:
    router = await worker.create_router(media_codecs=[OPUS_CODEC])
    codecs = router.rtp_capabilities["codecs"]
    opus = next(c for c in codecs if c["mimeType"] == "audio/opus")
    assert opus["clockRate"] == 48000
    assert opus["channels"] == 2
    assert opus["parameters"]["useinbandfec"] == 1
    assert opus["parameters"]["sprop-stereo"] == 1
    assert (await worker.dump())["routerIds"] == [router.id]
    assert (await router.dump())["id"] == router.id


async def test_webrtc_transport_on_a_webrtc_server(worker: Worker, router: Router) -> None:
    port = free_udp_port()
    server = await worker.create_webrtc_server(listen_infos=[loopback_udp(port)])
    transport = await router.create_webrtc_transport(
        webrtc_server=server, initial_available_outgoing_bitrate=1_000_000
    )

    assert [(c["address"], c["port"], c["protocol"]) for c in transport.ice_candidates] == [
        ("127.0.0.1", port, "udp")
    ]
    ice = transport.ice_parameters
    assert ice["iceLite"] is True
    assert len(ice["usernameFragment"]) >= 16
    assert len(ice["password"]) >= 22
    dtls = transport.dtls_parameters
    assert {f["algorithm"] for f in dtls["fingerprints"]} >= {"sha-256"}
    assert transport.ice_state == "new"
    assert transport.dtls_state == "new"
    server_dump = await server.dump()
    assert server_dump["webRtcTransportIds"] == [transport.id]
    assert server_dump["udpSockets"] == [{"ip": "127.0.0.1", "port": port}]

    restarted = await transport.restart_ice()
    assert restarted["usernameFragment"] != ice["usernameFragment"]
    assert transport.ice_parameters == restarted

    await transport.set_max_incoming_bitrate(1_500_000)
    stats = await transport.get_stats()
    assert stats[0]["type"] == "webrtc-transport"
    assert stats[0]["transportId"] == transport.id
    assert stats[0]["maxIncomingBitrate"] == 1_500_000
    assert stats[0]["iceState"] == "new"


async def test_webrtc_transport_with_its_own_listen_infos(router: Router) -> None:
    transport = await router.create_webrtc_transport(listen_infos=[LOOPBACK_UDP])
    [candidate] = transport.ice_candidates
    assert candidate["address"] == "127.0.0.1"
    assert candidate["port"] > 0
    assert (await router.dump())["transportIds"] == [transport.id]


async def test_worker_errors_carry_the_workers_reason(router: Router) -> None:
    transport = await router.create_webrtc_transport(listen_infos=[LOOPBACK_UDP])
    with pytest.raises(WorkerRequestError) as raised:
        await transport.connect(dtls_parameters={"fingerprints": [], "role": "client"})
    assert raised.value.method == "WEBRTCTRANSPORT_CONNECT"
    assert raised.value.error_type == "TypeError"
    assert "empty dtlsParameters.fingerprints" in raised.value.reason
    # The transport is still usable after a refused request.
    assert (await transport.dump())["id"] == transport.id


async def test_bad_parameters_are_refused_before_the_worker(worker: Worker, router: Router) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        await router.create_webrtc_transport(listen_infos=[{"protocol": "udp", "ip": "localhost"}])
    with pytest.raises(ValueError, match="protocol"):
        await router.create_plain_transport(listen_info={"protocol": "sctp", "ip": "127.0.0.1"})  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="port"):
        await worker.create_webrtc_server(
            listen_infos=[{"protocol": "udp", "ip": "127.0.0.1", "port": 70000}]
        )
    plain = await router.create_plain_transport(listen_info=LOOPBACK_UDP, comedia=True)
    with pytest.raises(NotFoundError):
        await plain.consume(producer_id="no-such-producer", rtp_capabilities=router.rtp_capabilities)
    with pytest.raises(TypeError):
        await plain.produce(kind="audio", rtp_parameters={"codecs": "opus"})  # type: ignore[typeddict-item]
    webrtc = await router.create_webrtc_transport(listen_infos=[LOOPBACK_UDP])
    with pytest.raises(TypeError, match="fingerprint algorithm"):
        await webrtc.connect(dtls_parameters={"fingerprints": [{"algorithm": "md5", "value": "x"}]})  # type: ignore[typeddict-item]
    # The worker survived all of it.
    assert (await worker.dump())["pid"] == worker.pid


async def test_requests_after_close_raise_invalid_state(worker: Worker) -> None:
    router = await worker.create_router(media_codecs=[OPUS_CODEC])
    transport = await router.create_plain_transport(listen_info=LOOPBACK_UDP)
    await transport.close()
    with pytest.raises(InvalidStateError):
        await transport.get_stats()
    await router.close()
    with pytest.raises(InvalidStateError):
        await router.dump()
    await worker.close()
    with pytest.raises(InvalidStateError):
        await worker.dump()
    with pytest.raises(InvalidStateError):
        await worker.create_router(media_codecs=[OPUS_CODEC])


async def test_bad_worker_settings_are_refused(mediasoup_worker_bin: str) -> None:
    with pytest.raises(ValueError, match="rtc_min_port"):
        await create_worker(rtc_min_port=5000, rtc_max_port=4000, worker_bin=mediasoup_worker_bin)
    with pytest.raises(WorkerSpawnError, match="exited before running"):
        await create_worker(worker_bin="/bin/false")


async def test_a_worker_that_fails_to_start_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "mediasoup-worker"
    broken.write_text("#!/bin/sh\necho 'cannot open the channel' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(WorkerSpawnError, match=r"exit code 3\).*cannot open the channel"):
        await create_worker(worker_bin=str(broken))


async def test_sigkill_fails_pending_requests_and_closes_everything(mediasoup_worker_bin: str) -> None:
    worker = await create_worker(log_level="warn", worker_bin=mediasoup_worker_bin)
    router = await worker.create_router(media_codecs=[OPUS_CODEC])
    send = await router.create_plain_transport(listen_info=LOOPBACK_UDP, comedia=True)
    recv = await router.create_plain_transport(listen_info=LOOPBACK_UDP)
    producer = await send.produce(kind="audio", rtp_parameters=opus_producer_parameters(ssrc=1111))
    consumer = await recv.consume(producer_id=producer.id, rtp_capabilities=router.rtp_capabilities)
    observer = await router.create_active_speaker_observer()
    objects = {"router": router, "send": send, "recv": recv, "producer": producer, "consumer": consumer}
    events: list[tuple[str, str]] = []
    died: list[WorkerDiedError] = []
    worker.on("died", died.append)
    router.on("workerclose", lambda: events.append(("router", "workerclose")))
    for name in ("send", "recv"):
        objects[name].on("routerclose", lambda name=name: events.append((name, "routerclose")))
    producer.on("transportclose", lambda: events.append(("producer", "transportclose")))
    consumer.on("transportclose", lambda: events.append(("consumer", "transportclose")))
    consumer.on("producerclose", lambda: events.append(("consumer", "producerclose")))
    observer.on("routerclose", lambda: events.append(("observer", "routerclose")))
    for name, obj in objects.items():
        obj.observer.on("close", lambda name=name: events.append((name, "observer close")))

    # Frozen, the worker cannot answer: these requests are certainly pending when it dies.
    os.kill(worker.pid, signal.SIGSTOP)
    pending: list[asyncio.Future[object]] = [asyncio.ensure_future(router.dump()) for _ in range(10)]
    pending.append(asyncio.ensure_future(send.get_stats()))
    await asyncio.sleep(0.05)
    assert worker.channel.pending_count == len(pending)
    killed_at = time.monotonic()
    os.kill(worker.pid, signal.SIGKILL)
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert time.monotonic() - killed_at < 1.0
    assert all(isinstance(r, InvalidStateError) for r in results), results

    assert await wait_for(lambda: bool(died), 5)
    [error] = died
    assert error.signal_number == signal.SIGKILL
    assert error.signal_name == "SIGKILL"
    assert worker.died
    assert worker.closed
    assert worker.subprocess_closed
    assert all(obj.closed for obj in objects.values())
    assert observer.closed
    assert sorted(events) == sorted(
        [
            ("router", "workerclose"),
            ("router", "observer close"),
            ("send", "routerclose"),
            ("send", "observer close"),
            ("recv", "routerclose"),
            ("recv", "observer close"),
            ("producer", "transportclose"),
            ("producer", "observer close"),
            ("consumer", "transportclose"),
            ("consumer", "observer close"),
            ("observer", "routerclose"),
        ]
    )
    assert worker.routers == []
    assert worker.channel.pending_count == 0
    assert worker.channel.handler_ids == frozenset()
    with pytest.raises(InvalidStateError):
        await router.dump()
    await worker.close()  # a no-op on a dead worker
    assert len(died) == 1


def test_worker_binary_comes_from_the_environment_or_the_build(
    mediasoup_worker_bin: str, tmp_path: Path
) -> None:
    assert resolve_worker_binary({"MEDIASOUP_WORKER_BIN": mediasoup_worker_bin}) == Path(mediasoup_worker_bin)
    assert resolve_worker_binary({}).is_file()  # FBS._build.WORKER_BIN, installed by bin/setup
    with pytest.raises(WorkerBinaryNotFoundError, match="MEDIASOUP_WORKER_BIN=/nonexistent"):
        resolve_worker_binary({"MEDIASOUP_WORKER_BIN": "/nonexistent"})
    not_executable = tmp_path / "mediasoup-worker"
    not_executable.write_text("")
    with pytest.raises(WorkerBinaryNotFoundError, match="not an executable"):
        resolve_worker_binary({"MEDIASOUP_WORKER_BIN": str(not_executable)})


async def test_worker_uses_the_given_dtls_certificate(mediasoup_worker_bin: str, tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flylive-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    expected = ":".join(f"{b:02X}" for b in certificate.fingerprint(hashes.SHA256()))

    worker = await create_worker(
        dtls_cert_file=str(cert_file), dtls_private_key_file=str(key_file), worker_bin=mediasoup_worker_bin
    )
    try:
        router = await worker.create_router(media_codecs=[OPUS_CODEC])
        transport = await router.create_webrtc_transport(listen_infos=[LOOPBACK_UDP])
        fingerprints = {f["algorithm"]: f["value"] for f in transport.dtls_parameters["fingerprints"]}
        assert fingerprints["sha-256"] == expected
    finally:
        await worker.close()

"""What the media service needs from the configuration, read once and passed in."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flylive.config import AppConfig


@dataclass(frozen=True)
class MediaSettings:
    num_workers: int
    listen_ip: str
    announced_ip: str | None
    rtc_min_port: int
    rtc_max_port: int
    worker_bin: str | None
    max_rooms_per_worker: int
    max_listeners_per_distribution_router: int
    max_active_speakers_forwarded: int
    # Contract 4.4: every transport starts at 64 kbps outgoing and caps incoming at 128 kbps.
    initial_outgoing_bitrate: int = 64_000
    max_incoming_bitrate: int = 128_000
    # A dead worker's slot is refilled after this, doubling up to the max between failures.
    respawn_initial_delay: float = 1.0
    respawn_max_delay: float = 30.0
    rpc_timeout: float = 5.0
    # Requests a node runs at once (rpc_server.py says why there is a bound).
    max_concurrent_requests: int = 64
    # `runmedia --bench`: serve bench-only RPCs (plain-RTP listeners); never in production.
    bench_rpc: bool = False

    @classmethod
    def from_config(cls, config: AppConfig) -> MediaSettings:
        return cls(
            num_workers=config.MEDIASOUP_NUM_WORKERS,
            listen_ip=config.MEDIASOUP_LISTEN_IP,
            announced_ip=config.MEDIASOUP_ANNOUNCED_IP,
            rtc_min_port=config.MEDIASOUP_RTC_MIN_PORT,
            rtc_max_port=config.MEDIASOUP_RTC_MAX_PORT,
            worker_bin=config.MEDIASOUP_WORKER_BIN,
            max_rooms_per_worker=config.MAX_ROOMS_PER_WORKER,
            max_listeners_per_distribution_router=config.MAX_LISTENERS_PER_DISTRIBUTION_ROUTER,
            max_active_speakers_forwarded=config.MAX_ACTIVE_SPEAKERS_FORWARDED,
        )

    def with_changes(self, **changes: object) -> MediaSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

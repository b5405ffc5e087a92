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
    # A room across media nodes (room_span.py): listener transports of one room its home node keeps
    # (0: no cap); the pipe transports' listen and announced addresses (announced None: no spans).
    max_listeners_per_node: int = 0
    pipe_listen_ip: str | None = None
    pipe_announced_ip: str | None = None
    # A request from a room's home node to another node: shorter than the web side's wait, so a
    # dead node is given up and the listener placed elsewhere within the client's request.
    span_rpc_timeout: float = 2.0

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
            max_listeners_per_node=config.MAX_LISTENERS_PER_NODE,
            pipe_listen_ip=config.MEDIA_NODE_PIPE_LISTEN_IP or config.MEDIASOUP_LISTEN_IP,
            pipe_announced_ip=config.MEDIA_NODE_PIPE_ANNOUNCED_IP,
        )

    def with_changes(self, **changes: object) -> MediaSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def spans_enabled(self) -> bool:
        """This node takes part in rooms across nodes (it has a pipe address others reach)."""
        return self.pipe_announced_ip is not None

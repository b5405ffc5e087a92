"""Every Prometheus series of the contract (PROTOCOL.md section 9), declared once.

One custom registry (no default-registry clutter), plus this process's
process/platform/GC collectors as the runtime's equivalent of prom-client's
defaults. Apps import the metric they update from here; `/metrics/prometheus`
renders `render_latest()`. Each process (web, media, celery) has its own values.
"""

from __future__ import annotations

import contextlib

import prometheus_client
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# Current Socket.IO connections (namespace `/` connected) in this process.
SOCKET_CONNECTIONS = Gauge(
    "flylive_socket_connections_total", "Current Socket.IO connections in this process", registry=REGISTRY
)
ROOMS_ACTIVE = Gauge("flylive_rooms_active", "Active rooms", registry=REGISTRY)
SOCKET_EVENTS = Counter(
    "flylive_socket_events_total", "Client events handled", ["event", "status"], registry=REGISTRY
)
SOCKET_EVENT_LATENCY = Histogram(
    "flylive_socket_event_latency_seconds",
    "Client event handling time",
    ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
MEDIASOUP_WORKERS_ACTIVE = Gauge(
    "flylive_mediasoup_workers_active", "Live mediasoup workers", registry=REGISTRY
)
MEDIASOUP_ROUTERS_PER_WORKER = Gauge(
    "flylive_mediasoup_routers_per_worker", "Routers per mediasoup worker", ["worker_pid"], registry=REGISTRY
)
# flylive_gifts_processed_total and flylive_gift_batch_size: apps/gifts/stats.py (kept in Redis:
# the flush runs in Celery workers, which serve no /metrics).
# Not in the contract: transactions waiting in `gifts:pending`, as the last flush left them
# (set once per flush run by the process that flushed).
GIFT_BUFFER_SIZE = Gauge(
    "flylive_gift_buffer_size", "Gift transactions waiting to be sent to Laravel", registry=REGISTRY
)
LARAVEL_API_CALLS = Counter(
    "flylive_laravel_api_calls_total", "Laravel API calls", ["endpoint", "status"], registry=REGISTRY
)
LARAVEL_API_LATENCY = Histogram(
    "flylive_laravel_api_latency_seconds",
    "Laravel API call time",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
# result: success | invalid_token | no_token | origin_blocked | error, plus redis_error
# (revocation lookup failed; the handshake is refused as `Invalid credentials`).
AUTH_ATTEMPTS = Counter(
    "flylive_auth_attempts_total", "Socket.IO handshake outcomes", ["result"], registry=REGISTRY
)
LARAVEL_EVENTS_RECEIVED = Counter(
    "flylive_laravel_events_received_total",
    "Laravel pub/sub events received",
    ["event_type", "delivered"],
    registry=REGISTRY,
)
# Not in the contract: Laravel events this web process dropped before delivery. reason:
# queue_full (the bounded delivery queue was full) | invalid (not a valid message, 8.3).
LARAVEL_EVENTS_DROPPED = Counter(
    "flylive_laravel_events_dropped_total", "Laravel pub/sub events dropped", ["reason"], registry=REGISTRY
)

# Not in the contract: channel-layer calls that failed or passed their deadline
# (apps/realtime/channel_layer.py). operation: new_channel | send | group_add | group_discard |
# group_send | unsubscribe; channel_reader: a message a socket's reader could not handle.
CHANNEL_LAYER_ERRORS = Counter(
    "flylive_channel_layer_errors_total", "Channel-layer calls that failed or timed out", ["operation"],
    registry=REGISTRY,
)

# Not in the contract: the local fan-out of broadcasts, to a room or to every socket
# (apps/realtime/channel_layer.py). One pass writes a group message to every member socket of
# this process; its wall time is what the last local member waits after the first, so a growing
# p99 means the process lacks CPU for its rooms.
ROOM_FANOUT_SECONDS = Histogram(
    "flylive_room_fanout_seconds",
    "Wall time of one pass writing a group message to this process's member sockets",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
    registry=REGISTRY,
)
ROOM_FANOUT_DELIVERIES = Counter(
    "flylive_room_fanout_deliveries_total",
    "Group messages handed to this process's member sockets by the local fan-out",
    registry=REGISTRY,
)

# The contract's header (prom-client 15): text format 0.0.4.
PROMETHEUS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


# django-prometheus records Django's request and database metrics in prometheus_client's default
# registry; without that registry's own process collectors (ours above are the same series), it is
# rendered after ours.
for _collector in (prometheus_client.PROCESS_COLLECTOR, prometheus_client.PLATFORM_COLLECTOR,
                   prometheus_client.GC_COLLECTOR):
    with contextlib.suppress(KeyError):
        prometheus_client.REGISTRY.unregister(_collector)
DJANGO_REGISTRY = prometheus_client.REGISTRY


def render_latest() -> bytes:
    """The Prometheus text exposition of this process: the flylive_* series, then Django's."""
    return generate_latest(REGISTRY) + generate_latest(DJANGO_REGISTRY)


# Media plane (apps/media): a room the media plane could not take, counted by the web process that
# answered the client. reason: workers_full (every worker of the room's node at MAX_ROOMS_PER_WORKER
# routers) | no_node (no live media node takes new rooms).
MEDIA_CAPACITY_REFUSALS = Counter(
    "flylive_media_capacity_refusals_total",
    "Media requests refused because the media plane is at capacity",
    ["reason"],
    registry=REGISTRY,
)


# The web process's event loop: tasks alive at the scrape (a number that keeps growing is a leak;
# bench/soak.py reads it).
EVENT_LOOP_TASKS = Gauge(
    "flylive_event_loop_tasks",
    "asyncio tasks alive on the web process's event loop, read at each scrape",
    registry=REGISTRY,
)


# Media objects created, counted by the web process that got the media node's answer (the client's
# transport:create / audio:produce / audio:consume succeeded). direction: producer | consumer.
MEDIASOUP_TRANSPORTS_CREATED = Counter(
    "flylive_mediasoup_transports_created_total", "WebRTC transports created", ["direction"],
    registry=REGISTRY,
)
MEDIASOUP_PRODUCERS_CREATED = Counter(
    "flylive_mediasoup_producers_created_total", "Audio producers created", registry=REGISTRY
)
MEDIASOUP_CONSUMERS_CREATED = Counter(
    "flylive_mediasoup_consumers_created_total", "Audio consumers created", registry=REGISTRY
)

# Read from the live media nodes' heartbeats at each scrape (apps/rooms/views.py), like the workers
# gauges: routers the nodes hold and accept (workers x MAX_ROOMS_PER_WORKER), each worker's CPU
# (share of one core over the last heartbeat period) and the workers that died since each node began.
MEDIASOUP_ROUTERS = Gauge("flylive_mediasoup_routers", "Routers on the live media nodes", registry=REGISTRY)
MEDIASOUP_ROUTER_CAPACITY = Gauge(
    "flylive_mediasoup_router_capacity", "Routers the live media nodes accept in all", registry=REGISTRY
)
MEDIASOUP_WORKER_CPU = Gauge(
    "flylive_mediasoup_worker_cpu_ratio", "mediasoup worker CPU, share of one core", ["node", "worker_pid"],
    registry=REGISTRY,
)
MEDIASOUP_WORKER_DEATHS = Gauge(
    "flylive_mediasoup_worker_deaths", "mediasoup workers that died since their media node started",
    ["node"], registry=REGISTRY,
)

# A room across media nodes (apps/media/span_links.py), from the same heartbeats: where listeners
# are (each node's listener transports, and those of rooms homed on it that other nodes serve) and
# the pipes (rooms homed on a node with a pipe pair to another node; rooms homed elsewhere that a
# node serves in part).
MEDIA_NODE_LISTENERS = Gauge(
    "flylive_media_node_listeners", "Listener transports on each live media node", ["node"],
    registry=REGISTRY,
)
MEDIA_NODE_REMOTE_LISTENERS = Gauge(
    "flylive_media_node_remote_listeners", "Listeners of rooms homed on this node that other nodes serve",
    ["node"], registry=REGISTRY,
)
MEDIA_NODE_PIPES = Gauge(
    "flylive_media_node_pipes", "Pipe transport pairs from rooms homed on this node to other nodes", ["node"],
    registry=REGISTRY,
)
MEDIA_NODE_SPANS = Gauge(
    "flylive_media_node_spans", "Rooms homed on another node whose listeners this node serves in part",
    ["node"], registry=REGISTRY,
)

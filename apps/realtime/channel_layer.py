"""The channel layer: channels_redis's pub/sub layer with a deadline on every call.

    CHANNEL_LAYERS = {"default": {"BACKEND": "apps.realtime.channel_layer.BoundedPubSubChannelLayer",
                                  "CONFIG": {"prefix": "flylive"}}}

- Without `hosts` it connects to the configured Redis (flylive.config), so the Redis
  password is never a Django setting.
- `new_channel`, `send`, `group_add`, `group_discard` and `group_send` are bounded by
  `call_timeout` (5 s): a Redis that does not answer fails the call with
  `ChannelLayerError` (counted in `flylive_channel_layer_errors_total{operation}` and
  logged) instead of hanging the event that made it. `receive` is not bounded: it waits
  for messages by design.
- `new_channel` that fails leaves no channel behind, and `release_channel` drops a
  channel's queue and subscription without the receive-cancel dance.
- Reconnection: the layer's pub/sub connection is redis-py's, which reconnects and
  re-subscribes every channel and group it had when Redis comes back (PubSub.on_connect);
  sockets connected before a Redis restart keep their subscriptions.
- Local fan-out: a group message arrives once per process; it is decoded once and handed
  to the `local delivery` (see `deliver_locally`) for each member channel in one pass,
  instead of channels_redis's copy into every member's queue, decoded again by a reader
  task per member. A member whose queue still holds messages gets it queued behind them,
  so each channel's order is kept; what the delivery declines is queued as before.
- Each pass is measured: `flylive_room_fanout_seconds` (its wall time) and
  `flylive_room_fanout_deliveries_total` (members handed the message, queued or written).
- A long fan-out gives the core away every `FANOUT_YIELD_EVERY` members (`os.sched_yield`).
  Each socket write wakes a task that reads it (on this machine: the media worker, Redis, a
  local client), and Linux's scheduler (EEVDF since 6.6) lets a woken task wait while the
  writer keeps its core for the whole burst: with two web processes each fanning a message
  out to 500 sockets on two cores, nothing else ran until one of them finished. A yield when
  nothing else is runnable costs well under a microsecond. README, "Web tier", has the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _consistent_hash, _wrap_close, create_pool, decode_hosts
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.realtime.redis_client import primary_kwargs, sentinel_kwargs
from flylive.config import AppConfig, get_config
from flylive.metrics import CHANNEL_LAYER_ERRORS, ROOM_FANOUT_DELIVERIES, ROOM_FANOUT_SECONDS
from flylive.redis_batch import auto_pipeline

logger = logging.getLogger(__name__)

CHANNEL_LAYER_TIMEOUT_SECONDS = 5.0
FANOUT_YIELD_EVERY = 16  # members delivered between two sched_yield() calls in one fan-out


class ChannelLayerError(Exception):
    """A channel-layer call failed or ran past its deadline."""


# (member channel name, decoded group message) -> True when delivered to that member here.
LocalDelivery = Callable[[str, dict[str, Any]], bool]
_local_delivery: LocalDelivery | None = None


def deliver_locally(delivery: LocalDelivery | None) -> None:
    """Hand group messages to `delivery` for each member channel of this process (emit.py)."""
    global _local_delivery
    _local_delivery = delivery


class _FanOutShardConnection(RedisSingleShardConnection):  # type: ignore[misc]
    """A shard's pub/sub connection that fans group messages out in one pass."""

    async def _do_receiving(self) -> None:
        # channels_redis's loop, plus a turn of the event loop after each message: reading
        # messages already buffered never waits, so a burst of broadcasts (each written to
        # every local socket right here) would otherwise hold the loop for its whole length
        # (heartbeats, pongs and handlers starved).
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    self._receive_message(message)
                    if message is not None:
                        await asyncio.sleep(0)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, TimeoutError, GeneratorExit):
                raise
            except BaseException:
                logger.exception("Unexpected exception in receive task")
                await asyncio.sleep(1)

    def _receive_message(self, message: dict[str, Any] | None) -> None:
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        queue = layer.channels.get(name)
        if queue is not None:
            queue.put_nowait(message["data"])
            return
        members = layer.groups.get(name)
        if not members:
            return
        data = message["data"]
        delivery = _local_delivery
        decoded: dict[str, Any] | None = None
        delivered = 0
        started = time.perf_counter()
        for index, channel_name in enumerate(members, 1):
            if not index % FANOUT_YIELD_EVERY:
                os.sched_yield()
            queue = layer.channels.get(channel_name)
            if queue is None:
                continue
            delivered += 1
            if delivery is not None and queue.empty():
                if decoded is None:
                    decoded = layer.channel_layer.deserialize(data)
                if delivery(channel_name, decoded):
                    continue
            queue.put_nowait(data)
        if delivered:
            ROOM_FANOUT_SECONDS.observe(time.perf_counter() - started)
            ROOM_FANOUT_DELIVERIES.inc(delivered)


class _FanOutLoopLayer(RedisPubSubLoopLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_FanOutShardConnection(host, self) for host in decode_hosts(kwargs.get("hosts"))]


def configured_hosts() -> list[dict[str, Any]]:
    """The channel layer's shards: CHANNEL_LAYER_REDIS_NODES (one plain Redis each, with the
    configured credentials and database), else the configured Redis alone. Never the Cluster of
    REDIS_CLUSTER_NODES: channels_redis cannot use one."""
    config = get_config()
    if not config.CHANNEL_LAYER_REDIS_NODES:
        return [configured_host()]
    return [_host_entry(config, host, port) for host, port in config.CHANNEL_LAYER_REDIS_NODES]


def _host_entry(config: AppConfig, host: str, port: int) -> dict[str, Any]:
    scheme = "rediss" if config.REDIS_TLS else "redis"
    entry: dict[str, Any] = {"address": f"{scheme}://{host}:{port}/{config.REDIS_DB}"}
    if config.REDIS_PASSWORD:
        entry["password"] = config.REDIS_PASSWORD
        if config.REDIS_USERNAME:
            entry["username"] = config.REDIS_USERNAME
    return entry


def configured_host() -> dict[str, Any]:
    """channels_redis's host entry for the configured Redis (address, then credentials apart;
    with REDIS_SENTINEL_NODES the Sentinels and master name, which its create_pool follows)."""
    config = get_config()
    if config.redis_sentinel:
        return {"sentinels": list(config.REDIS_SENTINEL_NODES), "master_name": config.REDIS_SENTINEL_MASTER,
                "sentinel_kwargs": sentinel_kwargs(), **primary_kwargs(config)}
    return _host_entry(config, config.REDIS_HOST, config.REDIS_PORT)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    def __init__(self, *args: Any, hosts: list[Any] | None = None,
                 call_timeout: float = CHANNEL_LAYER_TIMEOUT_SECONDS, **kwargs: Any) -> None:
        super().__init__(*args, hosts=hosts if hosts else configured_hosts(), **kwargs)
        self.call_timeout = call_timeout
        # Publishers per event loop, one pooled client per shard host (see `_publish`).
        self._publishers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Redis]] = (
            weakref.WeakKeyDictionary())

    async def _publish(self, name: str, message: dict[str, Any]) -> None:
        """PUBLISH on a pooled connection of the name's shard. channels_redis publishes through
        one connection per shard behind a lock, so every broadcast of a process waits for the
        one before it, one event-loop turn each; under load that queue was most of an event's
        latency. A pool lets publishes overlap, and those of one loop turn are pipelined; each
        is still one PUBLISH, in order per caller."""
        layer = self._loop_layer()
        loop = asyncio.get_running_loop()
        publishers = self._publishers.get(loop)
        if publishers is None:
            publishers = self._publishers[loop] = [
                Redis(connection_pool=create_pool(host)) for host in decode_hosts(self._kwargs["hosts"])]
        shard = _consistent_hash(name, len(publishers))
        # The publishes of one loop turn share a round trip (flylive/redis_batch.py).
        data = layer.channel_layer.serialize(message)
        await auto_pipeline(publishers[shard]).command("PUBLISH", name, data)

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer: RedisPubSubLoopLayer | None = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _FanOutLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer

    def _loop_layer(self) -> RedisPubSubLoopLayer:
        layer: RedisPubSubLoopLayer = self._get_layer()
        return layer

    async def _bounded(self, operation: str, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            async with asyncio.timeout(self.call_timeout):
                try:
                    return await call()
                except RedisConnectionError as exc:
                    # After a Redis restart the first use of a pooled connection finds it closed;
                    # once more on a fresh one, within the same deadline.
                    logger.info("channel layer %s: %r, retrying once", operation, exc)
                    return await call()
        except Exception as exc:
            CHANNEL_LAYER_ERRORS.labels(operation=operation).inc()
            logger.warning("channel layer %s failed: %r", operation, exc)
            raise ChannelLayerError(f"channel layer {operation} failed: {exc!r}") from exc

    async def new_channel(self, prefix: str = "specific.") -> str:
        layer = self._loop_layer()
        # Named here, not by the loop layer, so that a failed subscribe can be undone.
        name = f"{layer.prefix}{prefix}{uuid.uuid4().hex}"
        try:
            await self._bounded("new_channel", lambda: layer._subscribe_to_channel(name))
        except BaseException:
            await asyncio.shield(self._forget_channel(layer, name))
            raise
        return name

    async def release_channel(self, channel: str) -> None:
        """Drop a channel made by `new_channel` (its queue and its subscription); idempotent."""
        await self._forget_channel(self._loop_layer(), channel)

    async def _forget_channel(self, layer: RedisPubSubLoopLayer, channel: str) -> None:
        if layer.channels.pop(channel, None) is None:
            return
        # A failure is logged; a subscription without a queue only drops what it receives.
        with contextlib.suppress(ChannelLayerError):
            await self._bounded("unsubscribe", lambda: layer._get_shard(channel).unsubscribe(channel))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self._bounded("send", lambda: self._publish(channel, message))

    async def group_add(self, group: str, channel: str) -> None:
        layer = self._loop_layer()
        name = layer._get_group_channel_name(group)
        members = layer.groups.get(name)
        if (members is not None and channel in layer.channels
                and name in layer._get_shard(name)._subscribed_to):
            members.add(channel)  # the process is subscribed already: nothing to ask Redis
            return
        await self._bounded("group_add", lambda: layer.group_add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        layer = self._loop_layer()
        members = layer.groups.get(layer._get_group_channel_name(group))
        if members is not None and len(members) > 1:
            members.discard(channel)  # others of this process stay: the subscription stays
            return
        await self._bounded("group_discard", lambda: layer.group_discard(group, channel))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        name = self._loop_layer()._get_group_channel_name(group)
        await self._bounded("group_send", lambda: self._publish(name, message))

"""A test double of the media service: answers `room.ensure` with fixed RTP capabilities.

Clearly not the media service: it has no mediasoup. It serves one channel (the
shared "media.rpc", or a node channel) and, given a node id, registers itself in
`{media}:nodes` with a heartbeat like a media node, so a real server's gateway places
rooms on it. Every other method is answered with an empty result. The media
service's own end-to-end tests replace it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import Redis, from_url

from apps.media.gateway import MEDIA_RPC_CHANNEL
from apps.media.node_registry import MEDIA_NODES_KEY

FIXED_RTP_CAPABILITIES: dict[str, Any] = {
    "codecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2,
                "preferredPayloadType": 100, "parameters": {}, "rtcpFeedback": []}],
    "headerExtensions": [{"kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:sdes:mid",
                          "preferredId": 1, "preferredEncrypt": False, "direction": "sendrecv"}],
}


@dataclass
class MediaDouble:
    layer: RedisPubSubChannelLayer
    channel: str = MEDIA_RPC_CHANNEL
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: str | None = None  # answer every request with this error message
    silent: bool = False  # never answer

    async def serve(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            self.requests.append(message)
            reply_channel = message.get("reply_channel")
            if self.silent or not reply_channel:
                continue
            reply: dict[str, Any] = {"type": "media.reply", "id": message["id"]}
            if self.fail_with is not None:
                reply["error"] = {"message": self.fail_with}
            elif message.get("method") == "room.ensure":
                reply["result"] = {"rtpCapabilities": FIXED_RTP_CAPABILITIES}
            else:
                reply["result"] = {}
            await self.layer.send(reply_channel, reply)


async def _wait_subscribed(redis: Redis, channel: str) -> None:
    for _ in range(200):
        counts = dict(await redis.pubsub_numsub(channel))
        if counts.get(channel.encode(), 0) > 0:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"nobody subscribed to {channel}")


async def _heartbeat(redis: Redis, node_id: str, channel: str) -> None:
    while True:
        info = {"workers": {"active": 1, "expected": 1}, "updatedAt": int(time.time() * 1000), "rooms": 0,
                "routers": 0, "capacity": 100, "channel": channel, "pid": 0, "draining": False, "extra": {}}
        await redis.hset(MEDIA_NODES_KEY, node_id, json.dumps(info))
        await asyncio.sleep(2)


@contextlib.asynccontextmanager
async def running_media_double(redis_url: str, *, node_id: str | None = None,
                               prefix: str = "flylive") -> AsyncIterator[MediaDouble]:
    """Run the double on its own channel layer until the block ends.

    Without `node_id` it serves the shared "media.rpc" channel (a gateway client
    built without a node registry); with one it registers as that media node."""
    layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=prefix)
    channel = MEDIA_RPC_CHANNEL if node_id is None else f"{MEDIA_RPC_CHANNEL}.{node_id}"
    double = MediaDouble(layer, channel)
    probe: Redis = from_url(redis_url)
    tasks = [asyncio.create_task(double.serve())]
    try:
        await _wait_subscribed(probe, channel)
        if node_id is not None:
            tasks.append(asyncio.create_task(_heartbeat(probe, node_id, channel)))
        yield double
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if node_id is not None:
            await probe.hdel(MEDIA_NODES_KEY, node_id)
        await layer.flush()
        await probe.aclose()

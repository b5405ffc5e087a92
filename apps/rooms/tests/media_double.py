"""A test double of the media service: answers `room.ensure` on the "media.rpc" channel.

Clearly not the media service: it has no mediasoup, it replies with fixed RTP
capabilities. The media service's own end-to-end tests replace it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import Redis, from_url

from apps.media.gateway import MEDIA_RPC_CHANNEL

FIXED_RTP_CAPABILITIES: dict[str, Any] = {
    "codecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2,
                "preferredPayloadType": 100, "parameters": {}, "rtcpFeedback": []}],
    "headerExtensions": [{"kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:sdes:mid",
                          "preferredId": 1, "preferredEncrypt": False, "direction": "sendrecv"}],
}


@dataclass
class MediaDouble:
    layer: RedisPubSubChannelLayer
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: str | None = None  # answer every request with this error message
    silent: bool = False  # never answer

    async def serve(self) -> None:
        while True:
            message = await self.layer.receive(MEDIA_RPC_CHANNEL)
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
                reply["error"] = {"message": f"unknown method {message.get('method')}"}
            await self.layer.send(reply_channel, reply)


async def _wait_subscribed(redis: Redis, channel: str) -> None:
    for _ in range(200):
        counts = dict(await redis.pubsub_numsub(channel))
        if counts.get(channel.encode(), 0) > 0:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"nobody subscribed to {channel}")


@contextlib.asynccontextmanager
async def running_media_double(redis_url: str, *, prefix: str = "flylive") -> AsyncIterator[MediaDouble]:
    """Run the double on its own channel layer until the block ends."""
    layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=prefix)
    double = MediaDouble(layer)
    task = asyncio.create_task(double.serve())
    probe: Redis = from_url(redis_url)
    try:
        await _wait_subscribed(probe, MEDIA_RPC_CHANNEL)
        yield double
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await layer.flush()
        await probe.aclose()

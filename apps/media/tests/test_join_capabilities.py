"""room:join's `rtpCapabilities` come from the configured codecs, not from a router: same bytes."""

from __future__ import annotations

import json
from typing import Any, cast

from apps.media import gateway
from apps.media.mediasoup import Worker
from apps.media.worker_pool import MEDIA_CODECS


async def test_join_capabilities_are_byte_identical_to_a_real_routers(worker: Worker) -> None:
    router = await worker.create_router(media_codecs=cast(Any, MEDIA_CODECS))  # what the pool makes
    computed = gateway.router_rtp_capabilities()
    assert computed == router.rtp_capabilities
    # The ack is JSON: same keys in the same order, so the same bytes on the wire.
    assert json.dumps(computed) == json.dumps(router.rtp_capabilities)
    assert computed["codecs"][0]["mimeType"] == "audio/opus"
    assert computed["codecs"][0]["parameters"] == {"useinbandfec": 1, "usedtx": 0, "minptime": 10,
                                                   "sprop-stereo": 1}


async def test_join_capabilities_need_no_media_node_and_callers_cannot_spoil_the_cache() -> None:
    first = await gateway.rtp_capabilities_for_join("any-room")  # no channel layer, no node: no call
    first["codecs"].clear()
    assert gateway.router_rtp_capabilities()["codecs"], "a caller's change leaked into the cache"
    assert await gateway.rtp_capabilities_for_join("other") == gateway.router_rtp_capabilities()

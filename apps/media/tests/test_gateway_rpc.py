"""The gateway's RPC client on the wire (real Redis channel layer) against a hand-written responder,
so the envelope itself is what is checked (replaces apps/rooms/tests/test_gateway.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apps.media import gateway
from apps.media import rpc_contract as rpc
from apps.media.gateway import MediaRpcClient, MediaRpcError, MediaUnavailableError, use_media_rpc_client
from apps.media.tests.service_fixtures import channel_layer  # noqa: F401
from apps.realtime.event_registry import ClientError

TRANSPORT = {"id": "t1", "iceParameters": {"usernameFragment": "u"}, "iceCandidates": [{"ip": "1.2.3.4"}],
             "dtlsParameters": {"role": "auto", "fingerprints": []}}


class Responder:
    """Reads the shared channel; answers transport.create with TRANSPORT, or `reply` when set."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.requests: list[dict[str, Any]] = []
        self.reply: dict[str, Any] | None = None
        self.silent = False

    async def serve(self) -> None:
        while True:
            message = await self.layer.receive(gateway.MEDIA_RPC_CHANNEL)
            self.requests.append(message)
            if self.silent or not message.get("reply_channel"):
                continue
            answer = self.reply if self.reply is not None else {"result": TRANSPORT}
            reply = {"type": "media.reply", "id": message["id"], **answer}
            await self.layer.send(message["reply_channel"], reply)


@pytest.fixture
async def responder(channel_layer: Any) -> AsyncIterator[Responder]:  # noqa: F811
    client = MediaRpcClient(channel_layer, timeout=2.0)
    use_media_rpc_client(client)
    double = Responder(channel_layer)
    await channel_layer._subscribe_to_channel(gateway.MEDIA_RPC_CHANNEL)
    task = asyncio.create_task(double.serve())
    yield double
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.aclose()


async def test_a_request_carries_its_method_params_reply_channel_and_budget(responder: Responder) -> None:
    assert await gateway.create_transport("42", "sid", 7, "consumer", epoch=3) == TRANSPORT
    [request] = responder.requests
    assert request["type"] == "media.request"
    assert request["method"] == "transport.create"
    assert request["params"] == {"roomId": "42", "sid": "sid", "epoch": 3, "userId": 7, "type": "consumer"}
    assert request["reply_channel"]
    assert request["budgetMs"] == 2000  # the client's timeout: relative, whatever the node's clock says


async def test_concurrent_requests_get_their_own_replies(responder: Responder) -> None:
    results = await asyncio.gather(*(gateway.create_transport(str(i), "s", 1, "producer") for i in range(20)))
    assert all(r == TRANSPORT for r in results)
    assert sorted(r["params"]["roomId"] for r in responder.requests) == sorted(str(i) for i in range(20))


async def test_replies_are_checked_against_the_contract(responder: Responder) -> None:
    responder.reply = {"result": {"id": "t1"}}  # no ICE or DTLS parameters
    with pytest.raises(MediaRpcError, match="does not match the contract"):
        await gateway.create_transport("1", "s", 1, "producer")
    responder.reply = {"error": {"message": "Transport not found", "client": True}}
    with pytest.raises(ClientError, match=r"^Transport not found$"):
        await gateway.create_transport("1", "s", 1, "producer")
    responder.reply = {"error": {"message": "Internal server error"}}
    with pytest.raises(MediaRpcError, match="Internal server error"):
        await gateway.create_transport("1", "s", 1, "producer")


async def test_a_silent_media_service_raises_unavailable_after_the_timeout(responder: Responder) -> None:
    responder.silent = True
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(MediaUnavailableError):
        await gateway.media_rpc_client().request(rpc.TRANSPORT_CREATE, rpc.TransportCreateRequest(
            roomId="1", sid="s", userId=1, type="producer"), wait_seconds=0.3)
    assert 0.25 < loop.time() - started < 2.0


async def test_close_and_release_are_notifications(responder: Responder) -> None:
    await gateway.notify_room_closed("9", "inactivity")
    await gateway.release_room_media("9")
    for _ in range(100):
        if len(responder.requests) == 2:
            break
        await asyncio.sleep(0.01)
    assert [(r["method"], r["params"], r["reply_channel"]) for r in responder.requests] == [
        ("room.close", {"roomId": "9", "reason": "inactivity"}, None),
        ("room.release", {"roomId": "9"}, None),
    ]

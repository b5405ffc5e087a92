"""The media RPC, declared once: each method a web process may ask of a media node, with its
request and response models. The gateway (web side) sends them and the node (service.py)
answers them; neither spells a method name or checks a parameter by hand.

On the channel layer (gateway.py sends, rpc_server.py serves):
    request  {"type": "media.request", "id": "<hex>", "method": "<name>", "params": {...},
              "reply_channel": "<channel>" | None, "budgetMs": <int>}
    reply    {"type": "media.reply", "id": "<same>", "result": {...}}
          or {"type": "media.reply", "id": "<same>", "error": {"message", "client", "reason"}}
`budgetMs` is how long the caller still waits: relative, because the hosts' clocks differ. The
node drops a request whose budget ran out before it could start (its caller has given up).
`reply_channel` None: a notification, nobody waits for the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from apps.realtime.schema import JsNumber


class RpcModel(BaseModel):
    # Unknown keys are ignored so that a web process and a node one release apart still talk.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Empty(RpcModel):
    pass


# --- envelopes -------------------------------------------------------------------------------

class RpcRequest(RpcModel):
    type: Literal["media.request"] = "media.request"
    id: StrictStr
    method: StrictStr
    params: dict[str, Any]
    reply_channel: StrictStr | None = None
    budgetMs: StrictInt


class RpcError(RpcModel):
    message: StrictStr
    # True: `message` is a contract text the client sees as is ("Transport not found").
    client: StrictBool = False
    # Why, for the web side's metrics and logs ("capacity": every worker is full).
    reason: StrictStr | None = None


CAPACITY_REASON = "capacity"


class RpcReply(RpcModel):
    type: Literal["media.reply"] = "media.reply"
    id: StrictStr
    result: dict[str, Any] | None = None
    error: RpcError | None = None


# --- requests ---------------------------------------------------------------------------------

class RoomRequest(RpcModel):
    roomId: StrictStr


class RoomCloseRequest(RoomRequest):
    reason: StrictStr


class SocketRequest(RoomRequest):
    sid: StrictStr
    # The socket's membership epoch (one more at each room:join). A release covers what the
    # socket made up to its epoch; a request of a released epoch is refused, what it made closed.
    epoch: StrictInt = 0


class TransportCreateRequest(SocketRequest):
    userId: JsNumber
    type: Literal["producer", "consumer"]


class TransportConnectRequest(SocketRequest):
    transportId: StrictStr
    dtlsParameters: dict[str, Any]


class ProducerCreateRequest(SocketRequest):
    userId: JsNumber
    transportId: StrictStr
    kind: Literal["audio"]
    rtpParameters: dict[str, Any]


class ConsumerCreateRequest(SocketRequest):
    transportId: StrictStr
    producerId: StrictStr
    rtpCapabilities: dict[str, Any]


class ConsumerResumeRequest(SocketRequest):
    consumerId: StrictStr


class ProducerSetPausedRequest(SocketRequest):
    producerId: StrictStr
    paused: StrictBool


class UserProducersPausedRequest(RoomRequest):
    userId: JsNumber
    paused: StrictBool


class UserRequest(RoomRequest):
    userId: JsNumber


# --- a room across media nodes (room_span.py): between a room's home node and the others ------

class PipedProducer(RpcModel):
    """A source producer as the home node's pipe consumer sends it (its id is kept on the other side)."""
    producerId: StrictStr
    kind: Literal["audio"]
    rtpParameters: dict[str, Any]
    paused: StrictBool
    userId: JsNumber


class SpanOpenRequest(RoomRequest):
    homeNodeId: StrictStr
    # The home node's pipe transport: where this node's pipe transport sends and receives.
    ip: StrictStr
    port: StrictInt
    producers: list[PipedProducer]
    # The home node's forwarding decision (speaker_forwarding.decision) and its number.
    forwarded: list[StrictStr] | None
    forwardingSeq: StrictInt


class SpanProducerRequest(RoomRequest):
    producer: PipedProducer


class SpanProducerClosedRequest(RoomRequest):
    producerId: StrictStr


class SpanProducerPausedRequest(RoomRequest):
    producerId: StrictStr
    paused: StrictBool


class SpanForwardingRequest(RoomRequest):
    forwarded: list[StrictStr] | None
    seq: StrictInt  # a later decision wins whatever order notifications run in


class SpanNodeRequest(RoomRequest):
    nodeId: StrictStr  # the node whose listeners of the room are lost


class SpanTransportClosedRequest(RoomRequest):
    nodeId: StrictStr
    transportId: StrictStr


class PlainListenersRequest(RoomRequest):
    count: StrictInt
    ip: StrictStr
    ports: list[StrictInt]


# --- responses --------------------------------------------------------------------------------

class TransportCreated(RpcModel):
    id: StrictStr
    iceParameters: dict[str, Any]
    iceCandidates: list[dict[str, Any]]
    dtlsParameters: dict[str, Any]
    # Set when the transport lives on another node than the room's home: the gateway sends the
    # requests about it (connect, consume, resume) there. Never part of the client's answer.
    nodeId: StrictStr | None = None


class ProducerCreated(RpcModel):
    id: StrictStr


class ConsumerCreated(RpcModel):
    id: StrictStr
    producerId: StrictStr
    kind: StrictStr
    rtpParameters: dict[str, Any]


class ConsumerResumed(RpcModel):
    deferred: StrictBool = False


class Count(RpcModel):
    count: StrictInt = 0


class WorkerRouters(RpcModel):
    pid: StrictInt
    routerCount: StrictInt


class NodeStats(RpcModel):
    nodeId: StrictStr
    rooms: StrictInt
    routers: StrictInt
    workers: dict[str, int]
    workerRouters: list[WorkerRouters]
    listeners: StrictInt


class RoomSlot(RpcModel):
    workerPid: StrictInt
    routerId: StrictStr
    listeners: StrictInt
    isSource: StrictBool


class SpanStats(RpcModel):
    """A node serving some of the room's listeners, seen from the room's home node."""
    nodeId: StrictStr
    listeners: StrictInt
    routerId: StrictStr
    workerPid: StrictInt
    producers: StrictInt  # piped to it
    pipeLocal: StrictStr  # ip:port of the home node's end
    pipeRemote: StrictStr  # ip:port of the other node's end


class RoomStats(RpcModel):
    sourceWorkerPid: StrictInt
    producers: StrictInt
    consumers: StrictInt
    transports: StrictInt
    forwarded: list[StrictStr]
    slots: list[RoomSlot]
    spans: list[SpanStats] = []


class SpanOpened(RpcModel):
    ip: StrictStr
    port: StrictInt
    routerId: StrictStr
    workerPid: StrictInt


class PlainListenersAdded(RpcModel):
    consumers: StrictInt
    workerPids: list[StrictInt]


# --- the methods ------------------------------------------------------------------------------

RequestT = TypeVar("RequestT", bound=RpcModel)
ResponseT = TypeVar("ResponseT", bound=RpcModel)
RoomRequestT = TypeVar("RoomRequestT", bound=RoomRequest)
SocketRequestT = TypeVar("SocketRequestT", bound=SocketRequest)


@dataclass(frozen=True)
class RpcMethod(Generic[RequestT, ResponseT]):
    name: str
    request: type[RequestT]
    response: type[ResponseT]
    # The room has no live node: the contract text the client gets, or None (nothing to do).
    missing: str | None = None
    # Places the room on the least loaded node when it has none (only its first transport:create).
    places_room: bool = False


# Forced: the rooms app closed the room (auto-close, staff); everything on it goes.
ROOM_CLOSE = RpcMethod("room.close", RoomCloseRequest, Empty)
# The room's last member left: its routers go, unless someone made media again meanwhile.
ROOM_RELEASE = RpcMethod("room.release", RoomRequest, Empty)
TRANSPORT_CREATE = RpcMethod("transport.create", TransportCreateRequest, TransportCreated,
                             missing="Room not found", places_room=True)
TRANSPORT_CONNECT = RpcMethod("transport.connect", TransportConnectRequest, Empty,
                              missing="Transport not found")
PRODUCER_CREATE = RpcMethod("producer.create", ProducerCreateRequest, ProducerCreated,
                            missing="Transport not found")
CONSUMER_CREATE = RpcMethod("consumer.create", ConsumerCreateRequest, ConsumerCreated,
                            missing="Room not found")
CONSUMER_RESUME = RpcMethod("consumer.resume", ConsumerResumeRequest, ConsumerResumed,
                            missing="Room not found")
PRODUCER_SET_PAUSED = RpcMethod("producer.setPaused", ProducerSetPausedRequest, Empty,
                                missing="Producer not found")
# Closes every transport (so producer and consumer) the socket made in the room up to `epoch`.
SOCKET_RELEASE = RpcMethod("socket.release", SocketRequest, Empty)
USER_SET_PRODUCERS_PAUSED = RpcMethod("user.setProducersPaused", UserProducersPausedRequest, Count)
USER_CLOSE_PRODUCERS = RpcMethod("user.closeProducers", UserRequest, Count)
NODE_STATS = RpcMethod("node.stats", Empty, NodeStats)
ROOM_STATS = RpcMethod("room.stats", RoomRequest, RoomStats, missing="Room not found")
# `runmedia --bench` only (bench/media_room.py): plain-RTP listeners that need no WebRTC client.
BENCH_ADD_PLAIN_LISTENERS = RpcMethod("bench.addPlainListeners", PlainListenersRequest, PlainListenersAdded,
                                      missing="Room not found")

# Node to node (room_span.py). The home node asks another node to serve some of the room's
# listeners (span.open: a router fed through a pipe transport), to make a listener's transport
# there, and keeps it in step: producers added, closed, paused; the forwarding decision; the close.
SPAN_OPEN = RpcMethod("span.open", SpanOpenRequest, SpanOpened)
SPAN_TRANSPORT_CREATE = RpcMethod("span.transportCreate", TransportCreateRequest, TransportCreated,
                                  missing="Room not found")
SPAN_PRODUCER_ADD = RpcMethod("span.producerAdd", SpanProducerRequest, Empty)
SPAN_PRODUCER_CLOSED = RpcMethod("span.producerClosed", SpanProducerClosedRequest, Empty)
SPAN_PRODUCER_PAUSED = RpcMethod("span.producerPaused", SpanProducerPausedRequest, Empty)
SPAN_FORWARDING = RpcMethod("span.forwarding", SpanForwardingRequest, Empty)
SPAN_CLOSE = RpcMethod("span.close", RoomRequest, Empty)
# The other way: a listener transport there closed (DTLS closed), or the node lost the room's
# listeners (its worker died, it is stopping): the home node tells those clients.
SPAN_TRANSPORT_CLOSED = RpcMethod("span.transportClosed", SpanTransportClosedRequest, Empty)
SPAN_LOST = RpcMethod("span.lost", SpanNodeRequest, Empty)

METHODS: dict[str, RpcMethod[Any, Any]] = {
    method.name: method
    for method in (
        ROOM_CLOSE, ROOM_RELEASE, TRANSPORT_CREATE, TRANSPORT_CONNECT, PRODUCER_CREATE, CONSUMER_CREATE,
        CONSUMER_RESUME, PRODUCER_SET_PAUSED, SOCKET_RELEASE, USER_SET_PRODUCERS_PAUSED,
        USER_CLOSE_PRODUCERS, NODE_STATS, ROOM_STATS, BENCH_ADD_PLAIN_LISTENERS, SPAN_OPEN,
        SPAN_TRANSPORT_CREATE, SPAN_PRODUCER_ADD, SPAN_PRODUCER_CLOSED, SPAN_PRODUCER_PAUSED,
        SPAN_FORWARDING, SPAN_CLOSE, SPAN_TRANSPORT_CLOSED, SPAN_LOST,
    )
}

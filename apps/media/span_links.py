"""A room's home node and the other nodes serving some of its listeners: what the home keeps.

A room lives on its home node (`room:{roomId}:media_node`): source router, producers, active
speaker observer. Once the home holds MAX_LISTENERS_PER_NODE of the room's listener transports,
the next listeners go to another node: a "span" there (room_span.py) is a router fed from the
source router through a pair of pipe transports, one on each node, each connected to the other's
announced address (the exchange mediasoup's pipeToRouter does inside one process, done here with
one `span.open` request carrying the home's ip/port and answered with the other's). The home keeps
one SpanLink per node and one RemoteTransport per listener transport there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.media.media_objects import ConsumerLike, PipeTransportLike
from apps.media.rpc_contract import RequestT, ResponseT, RpcMethod

# What a listener whose node was lost is told (the contract's word for lost media, 4.3).
LISTENERS_LOST_REASON = "worker_died"


class SpanPeers(Protocol):
    """The node's side of rooms across nodes, as a home cluster needs it (MediaService)."""

    @property
    def node_id(self) -> str: ...

    def pipe_listen_info(self) -> dict[str, Any]: ...

    async def span_candidates(self, exclude: set[str]) -> list[str]:
        """Live nodes that serve other nodes' listeners, least loaded first, none of `exclude`."""
        ...

    async def call(self, node_id: str, method: RpcMethod[RequestT, ResponseT], params: RequestT) -> ResponseT:
        """A request to that node; MediaUnavailableError when it does not answer in time."""
        ...

    async def notify(self, node_id: str, method: RpcMethod[RequestT, Any], params: RequestT) -> None: ...


@dataclass(eq=False)
class SpanLink:
    """The home's end of a span: its pipe transport and a pipe consumer per source producer."""

    node_id: str
    pipe: PipeTransportLike
    consumers: dict[str, ConsumerLike] = field(default_factory=dict)  # source producer id -> pipe consumer
    listeners: int = 0  # listener transports of the room on that node
    reserved: int = 0  # being made there now
    router_id: str = ""
    worker_pid: int = 0
    remote: str = ""  # ip:port of the other node's pipe transport

    def local(self) -> str:
        t = self.pipe.tuple
        return f"{t['localAddress']}:{t['localPort']}"


@dataclass(frozen=True)
class RemoteTransport:
    """A listener transport of the room that lives on another node."""

    transport_id: str
    sid: str
    epoch: int
    node_id: str

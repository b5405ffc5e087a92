"""Media nodes in Redis: who is alive and how loaded (`media:nodes`), and which node hosts a room.

- `media:nodes`              hash nodeId -> JSON NodeInfo, rewritten by each node's heartbeat;
                             an entry older than NODE_DEAD_AFTER_MS is a dead node.
- `room:{roomId}:media_node` the node that hosts the room's media; written with a
                             compare-and-set so concurrent first joins on several web
                             processes agree, and replaced only when that node is dead.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from flylive.redis_values import as_text

MEDIA_NODES_KEY = "media:nodes"
NODE_DEAD_AFTER_MS = 10_000
HEARTBEAT_INTERVAL_SECONDS = 2.0
ROOM_NODE_TTL_SECONDS = 86400
NODE_CHANNEL_PREFIX = "media.rpc."
_CHANNEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")

LUA_DIR = Path(__file__).resolve().parent / "lua"


def room_node_key(room_id: str) -> str:
    return f"room:{room_id}:media_node"


def room_producers_key(room_id: str) -> str:
    """Hash producerId -> userId (JS number) of the room's live producers (read by room:join)."""
    return f"room:{room_id}:producers"


def node_channel(node_id: str) -> str:
    """The channel-layer name a node serves requests on (one name per node: pub/sub fans out)."""
    return NODE_CHANNEL_PREFIX + _CHANNEL_UNSAFE.sub("_", node_id)


@dataclass(frozen=True)
class WorkerCounts:
    active: int
    expected: int


@dataclass(frozen=True)
class NodeInfo:
    workers: WorkerCounts
    updatedAt: int  # ms since the epoch
    rooms: int = 0
    routers: int = 0
    capacity: int = 0  # routers the node accepts (workers x MAX_ROOMS_PER_WORKER)
    channel: str = ""
    pid: int = 0
    draining: bool = False  # shutting down: no new rooms
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> NodeInfo | None:
        try:
            data = json.loads(raw)
            workers = data["workers"]
            return cls(
                workers=WorkerCounts(int(workers["active"]), int(workers["expected"])),
                updatedAt=int(data["updatedAt"]), rooms=int(data.get("rooms", 0)),
                routers=int(data.get("routers", 0)), capacity=int(data.get("capacity", 0)),
                channel=str(data.get("channel", "")), pid=int(data.get("pid", 0)),
                draining=bool(data.get("draining", False)), extra=dict(data.get("extra", {})),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def is_alive(self, now_ms: int) -> bool:
        return now_ms - self.updatedAt <= NODE_DEAD_AFTER_MS

    def accepts_rooms(self) -> bool:
        return not self.draining and self.workers.active > 0 and self.routers < self.capacity

    @property
    def load(self) -> float:
        return self.routers / self.capacity if self.capacity else 1.0


def _live(raw: dict[Any, Any], now_ms: int) -> dict[str, NodeInfo]:
    """The registry hash's entries that parse and whose heartbeat is recent."""
    nodes: dict[str, NodeInfo] = {}
    for key, value in raw.items():
        info = NodeInfo.from_json(value)
        if info is not None and info.is_alive(now_ms):
            nodes[as_text(key)] = info
    return nodes


class NodeRegistry:
    """Reads and writes the media node registry and room placement."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._place = redis.register_script((LUA_DIR / "room_node_place.lua").read_text())
        self._release = redis.register_script((LUA_DIR / "room_node_release.lua").read_text())

    async def heartbeat(self, node_id: str, info: NodeInfo) -> None:
        await self.redis.hset(MEDIA_NODES_KEY, node_id, info.to_json())

    async def deregister(self, node_id: str) -> None:
        await self.redis.hdel(MEDIA_NODES_KEY, node_id)

    async def live_nodes(self, now_ms: int) -> dict[str, NodeInfo]:
        return _live(await self.redis.hgetall(MEDIA_NODES_KEY), now_ms)

    async def room_node_and_live_nodes(
        self, room_id: str, now_ms: int
    ) -> tuple[str | None, dict[str, NodeInfo]]:
        """The room's recorded node and the live nodes, in one round trip (every media request needs both)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(room_node_key(room_id))
        pipe.hgetall(MEDIA_NODES_KEY)
        node_id, raw = await pipe.execute()
        return (None if node_id is None else as_text(node_id)), _live(raw, now_ms)

    async def place_room(self, room_id: str, candidate: str, *, replacing_dead: str | None) -> str:
        """Record `candidate` as the room's node unless another live choice is there; return the holder."""
        holder = await self._place(keys=[room_node_key(room_id)],
                                   args=[candidate, replacing_dead or "", ROOM_NODE_TTL_SECONDS])
        return as_text(holder)

    async def release_room(self, room_id: str, node_id: str) -> None:
        await self._release(keys=[room_node_key(room_id)], args=[node_id])

    async def refresh_room(self, room_id: str) -> None:
        await self.redis.expire(room_node_key(room_id), ROOM_NODE_TTL_SECONDS)


def least_loaded(nodes: dict[str, NodeInfo]) -> str | None:
    """The node with the lowest router load that takes new rooms; ties go to the fewest rooms."""
    eligible = [(info.load, info.rooms, node_id) for node_id, info in nodes.items() if info.accepts_rooms()]
    return min(eligible)[2] if eligible else None

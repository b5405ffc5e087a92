"""Media nodes in Redis: who is alive and how loaded (`media:nodes`), and which node hosts a room.

Hash tags: a room's keys share the room's slot on a Redis Cluster; the registry and the nodes'
room indexes share `{media}` (the dead-node claim reads both in one script).
- `{media}:nodes`            hash nodeId -> JSON NodeInfo, rewritten by each node's heartbeat;
                             an entry older than MEDIA_NODE_DEAD_AFTER_MS is a dead node.
- `room:{roomId}:media_node` the node that hosts the room's media; written with a
                             compare-and-set so concurrent first transports on several web
                             processes agree, and replaced only when that node is dead; its TTL
                             is renewed by every media request for the room.
- `{media}:node:<nodeId>:rooms` set of the rooms placed on that node (kept by the place and
                             release scripts): what a node found dead gives up (reports.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flylive.lua_scripts import lua_text, queue_script
from flylive.redis_types import AsyncRedis
from flylive.redis_values import as_text

MEDIA_NODES_KEY = "{media}:nodes"
# Fallback when no threshold is passed in (MEDIA_NODE_DEAD_AFTER_MS's default).
NODE_DEAD_AFTER_MS = 10_000
HEARTBEAT_INTERVAL_SECONDS = 2.0
ROOM_NODE_TTL_SECONDS = 86400
NODE_CHANNEL_PREFIX = "media.rpc."
_CHANNEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")

LUA_DIR = Path(__file__).resolve().parent / "lua"


def room_node_key(room_id: str) -> str:
    return f"room:{{{room_id}}}:media_node"


def node_rooms_key(node_id: str) -> str:
    return f"{{media}}:node:{node_id}:rooms"


def room_producers_key(room_id: str) -> str:
    """Hash producerId -> userId (JS number) of the room's live producers (read by room:join)."""
    return f"room:{{{room_id}}}:producers"


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

    def is_alive(self, now_ms: int, dead_after_ms: int = NODE_DEAD_AFTER_MS) -> bool:
        return now_ms - self.updatedAt <= dead_after_ms

    def accepts_rooms(self) -> bool:
        return not self.draining and self.workers.active > 0 and self.routers < self.capacity

    @property
    def load(self) -> float:
        return self.routers / self.capacity if self.capacity else 1.0


def _nodes(raw: dict[Any, Any]) -> dict[str, NodeInfo]:
    """The registry hash's entries that parse."""
    nodes: dict[str, NodeInfo] = {}
    for key, value in raw.items():
        info = NodeInfo.from_json(value)
        if info is not None:
            nodes[as_text(key)] = info
    return nodes


def _default_dead_after_ms() -> int:
    from flylive.config import get_config

    return get_config().MEDIA_NODE_DEAD_AFTER_MS


class NodeRegistry:
    """Reads and writes the media node registry and room placement."""

    def __init__(self, redis: AsyncRedis, *, dead_after_ms: int | None = None) -> None:
        self.redis = redis
        self.dead_after_ms = _default_dead_after_ms() if dead_after_ms is None else dead_after_ms
        self._place = redis.register_script(lua_text(LUA_DIR, "room_node_place.lua"))
        self._release = redis.register_script(lua_text(LUA_DIR, "room_node_release.lua"))
        self._claim_dead = redis.register_script(lua_text(LUA_DIR, "node_claim_dead.lua"))

    async def heartbeat(self, node_id: str, info: NodeInfo) -> bool:
        """Write the node's entry; True when there was none (first beat, or the node was declared dead)."""
        return bool(await self.redis.hset(MEDIA_NODES_KEY, node_id, info.to_json()))

    async def deregister(self, node_id: str) -> None:
        """A node stopping gracefully: out of the registry, every room placed on it given up."""
        for room_id in await self.redis.smembers(node_rooms_key(node_id)):
            await self.release_room(as_text(room_id), node_id)
        await self.redis.hdel(MEDIA_NODES_KEY, node_id)

    def _live(self, raw: dict[Any, Any], now_ms: int) -> dict[str, NodeInfo]:
        nodes = _nodes(raw).items()
        return {node_id: info for node_id, info in nodes if info.is_alive(now_ms, self.dead_after_ms)}

    async def live_nodes(self, now_ms: int) -> dict[str, NodeInfo]:
        return self._live(await self.redis.hgetall(MEDIA_NODES_KEY), now_ms)

    async def dead_nodes(self, now_ms: int) -> list[str]:
        """Registered nodes whose heartbeat is older than the dead threshold."""
        nodes = _nodes(await self.redis.hgetall(MEDIA_NODES_KEY))
        return [node_id for node_id, info in nodes.items() if not info.is_alive(now_ms, self.dead_after_ms)]

    async def claim_dead_node(self, node_id: str, now_ms: int) -> list[str] | None:
        """Remove a dead node from the registry, atomically and for one caller only: its rooms, or None
        (another caller claimed it, or its heartbeat came back)."""
        claimed = await self._claim_dead(keys=[MEDIA_NODES_KEY, node_rooms_key(node_id)],
                                         args=[node_id, now_ms - self.dead_after_ms])
        if not claimed or int(claimed[0]) != 1:
            return None
        return sorted(as_text(room_id) for room_id in claimed[1])

    async def room_node_and_live_nodes(
        self, room_id: str, now_ms: int
    ) -> tuple[str | None, dict[str, NodeInfo]]:
        """The room's recorded node and the live nodes, in one round trip (every media request needs
        both); renews the mapping's TTL on the way, so a room that lives past it keeps its node."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(room_node_key(room_id))
        pipe.hgetall(MEDIA_NODES_KEY)
        pipe.expire(room_node_key(room_id), ROOM_NODE_TTL_SECONDS)
        node_id, raw, _ = await pipe.execute()
        return (None if node_id is None else as_text(node_id)), self._live(raw, now_ms)

    async def place_room(self, room_id: str, candidate: str, *, replacing_dead: str | None) -> str:
        """Record `candidate` as the room's node unless another live choice is there; return the holder.

        The candidate's room index (another Cluster slot than the room's key) gets the room in the
        same round trip, and loses it again when another node holds the room."""
        async with self.redis.pipeline(transaction=False) as pipe:
            queue_script(pipe, self._place, [room_node_key(room_id)],
                         [candidate, replacing_dead or "", ROOM_NODE_TTL_SECONDS])
            pipe.sadd(node_rooms_key(candidate), room_id)
            holder, _ = await pipe.execute()
        if as_text(holder) != candidate:
            await self.redis.srem(node_rooms_key(candidate), room_id)
        return as_text(holder)

    async def keep_rooms_placed(self, room_ids: list[str]) -> None:
        """Renew the node mappings of rooms that are alive, in one round trip (the auto-close
        pass): a room that lives past the mapping's TTL without media requests keeps its node."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.expire(room_node_key(room_id), ROOM_NODE_TTL_SECONDS)
            await pipe.execute()

    async def release_room(self, room_id: str, node_id: str) -> None:
        """Give the room up if `node_id` holds it, and drop it from that node's room index."""
        async with self.redis.pipeline(transaction=False) as pipe:
            queue_script(pipe, self._release, [room_node_key(room_id)], [node_id])
            pipe.srem(node_rooms_key(node_id), room_id)
            await pipe.execute()


def least_loaded(nodes: dict[str, NodeInfo]) -> str | None:
    """The node with the lowest router load that takes new rooms; ties go to the fewest rooms."""
    eligible = [(info.load, info.rooms, node_id) for node_id, info in nodes.items() if info.accepts_rooms()]
    return min(eligible)[2] if eligible else None

"""What happened to the media plane, for the rooms app to act on: rooms whose media is gone.

The media node never closes rooms itself (that is the rooms domain's, with its `room:closed`,
Laravel status and Redis cleanup). It reports instead:
- a worker died: the node closed its clusters on that worker and pushes a report onto the
  Redis list `media:reports` (`publish_rooms_lost`);
- a node died (no heartbeat for MEDIA_NODE_DEAD_AFTER_MS): nobody is left to report it, so
  `take_lost_rooms` finds it in `media:nodes`, claims it and gives its rooms up.

`take_lost_rooms` (called periodically by the rooms app's task, on any number of processes)
returns each report exactly once across all callers: reports are popped atomically, and a dead
node is claimed by one caller only (Lua). The rooms of a dead node lose their node mapping and
producer list at once, so the room's next transport is placed on a live node.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from apps.media.node_registry import NodeRegistry, room_producers_key
from flylive.redis_types import AsyncRedis

logger = logging.getLogger(__name__)

REPORTS_KEY = "{media}:reports"
WORKER_DIED = "worker_died"
# A dead node's rooms are reported with the contract's word for lost media (PROTOCOL.md 4.3).
NODE_LOST = WORKER_DIED
_POP_BATCH = 100


@dataclass(frozen=True)
class RoomsLost:
    node_id: str
    room_ids: tuple[str, ...]
    reason: str  # "worker_died"


async def publish_rooms_lost(redis: AsyncRedis, node_id: str, room_ids: list[str] | tuple[str, ...],
                             reason: str = WORKER_DIED) -> None:
    """The node lost these rooms' media (already closed locally): queue the report for the rooms app."""
    if not room_ids:
        return
    report = {"nodeId": node_id, "roomIds": list(room_ids), "reason": reason}
    await redis.rpush(REPORTS_KEY, json.dumps(report, separators=(",", ":")))


def _parse(raw: bytes | str) -> RoomsLost | None:
    try:
        data = json.loads(raw)
        return RoomsLost(node_id=str(data["nodeId"]), room_ids=tuple(str(r) for r in data["roomIds"]),
                         reason=str(data["reason"]))
    except (ValueError, KeyError, TypeError):
        logger.error("unreadable media report dropped: %r", raw[:200])
        return None


async def _pop_reports(redis: AsyncRedis) -> list[RoomsLost]:
    reports: list[RoomsLost] = []
    while True:
        # LPOP with a count is atomic: concurrent callers never get the same entry.
        batch = await redis.lpop(REPORTS_KEY, _POP_BATCH)
        if not isinstance(batch, list) or not batch:
            return reports
        reports.extend(r for r in (_parse(raw) for raw in batch) if r is not None)
        if len(batch) < _POP_BATCH:
            return reports


async def _claim_dead_nodes(redis: AsyncRedis, now_ms: int) -> list[RoomsLost]:
    registry = NodeRegistry(redis)
    lost: list[RoomsLost] = []
    for node_id in await registry.dead_nodes(now_ms):
        room_ids = await registry.claim_dead_node(node_id, now_ms)
        if room_ids is None:
            continue  # another caller has it, or it came back
        logger.warning("media node %s stopped its heartbeat: %d room(s) lost", node_id, len(room_ids))
        for room_id in room_ids:
            await registry.release_room(room_id, node_id)
            await redis.delete(room_producers_key(room_id))
        if room_ids:
            lost.append(RoomsLost(node_id=node_id, room_ids=tuple(room_ids), reason=NODE_LOST))
    return lost


async def take_lost_rooms(redis: AsyncRedis, *, now_ms: int) -> list[RoomsLost]:
    """Every report not taken yet, plus the rooms of nodes found dead now; each exactly once."""
    reports = await _pop_reports(redis)
    return reports + await _claim_dead_nodes(redis, now_ms)

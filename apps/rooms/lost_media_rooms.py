"""Closing the rooms media nodes lost (run by Celery beat every MEDIA_LOST_ROOMS_POLL_INTERVAL_MS).

A media node never calls the rooms service: it reports what happened to it (a worker died
and took rooms with it), and nodes whose heartbeat stopped are claimed as dead; both come
out of `apps.media.reports.take_lost_rooms` exactly once across callers. Each lost room is
closed for everyone with the report's reason (`worker_died`), so its clients leave and new
joins place the room on a live node.
"""

from __future__ import annotations

import asyncio
import logging
import time

from apps.rooms.service import RoomService

logger = logging.getLogger(__name__)

# Closes in flight at once (a dead node may have had many rooms).
CLOSE_CONCURRENCY = 16


async def close_lost_media_rooms(service: RoomService) -> list[str]:
    """Take the lost-room reports and force-close each room; the rooms this call closed."""
    from apps.media.reports import take_lost_rooms

    reports = await take_lost_rooms(service.repo.redis, now_ms=int(time.time() * 1000))
    closed: list[str] = []
    limit = asyncio.Semaphore(CLOSE_CONCURRENCY)

    async def close(room_id: str, reason: str, node_id: str) -> None:
        async with limit:
            try:
                if await service.close_room(room_id, reason):
                    closed.append(room_id)
            except Exception:
                # The report is taken: this room now waits for auto-close once its members go.
                logger.exception("could not close room %s lost by media node %s", room_id, node_id)

    for report in reports:
        logger.warning("media node %s lost %d rooms (%s): closing them",
                       report.node_id, len(report.room_ids), report.reason)
    await asyncio.gather(*(close(room_id, report.reason, report.node_id)
                           for report in reports for room_id in report.room_ids))
    return closed

"""The rooms app's Celery beat tasks (scheduled in settings: CELERY_BEAT_SCHEDULE).

Each runs on the worker process's one task loop (flylive/celery_loop.py) and waits for the
room service's Laravel calls before returning: they are fire and forget in a web process,
but a task that returned early could leave them unsent.
"""

from __future__ import annotations

from apps.media.gateway import keep_room_media
from apps.rooms.auto_close import auto_close_pass
from apps.rooms.lost_media_rooms import close_lost_media_rooms
from apps.rooms.service import room_service
from flylive.celery_loop import loop_task

AUTO_CLOSE_TASK = "rooms.auto_close_idle_rooms"
LOST_MEDIA_ROOMS_TASK = "rooms.close_lost_media_rooms"


@loop_task(AUTO_CLOSE_TASK, timeout=120)
async def auto_close_idle_rooms() -> int:
    """Close rooms with no activity mark and no members (6.6); how many this run closed."""
    service = room_service()
    try:
        # Live rooms keep their records' TTLs and their media node mapping (keep_room_media).
        report = await auto_close_pass(service, refresh_media=keep_room_media)
    finally:
        await service.drain()
    return len(report.closed)


@loop_task(LOST_MEDIA_ROOMS_TASK, timeout=60)
async def close_rooms_lost_by_media() -> int:
    """Close (`worker_died`) the rooms media nodes reported lost or left behind when they died."""
    service = room_service()
    try:
        return len(await close_lost_media_rooms(service))
    finally:
        await service.drain()

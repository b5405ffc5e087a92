"""The seats app's Celery beat task: expire pending invites whose 30 s are up and tell their
rooms (`seat:invite:pending {seatIndex, isPending: false}`). Each invite is expired by one
Lua call that exactly one caller wins, so runs may overlap without double announcements."""

from __future__ import annotations

from apps.seats.service import seat_service
from flylive.celery_loop import loop_task

EXPIRE_INVITES_TASK = "seats.expire_invites"


@loop_task(EXPIRE_INVITES_TASK, timeout=30)
async def expire_invites() -> int:
    """How many invites this run expired."""
    return await seat_service().expire_due_invites()

"""The realtime app's Celery beat task: cleanup after web processes that are gone.

`web:instances` entries of dead processes (killed, or stopped gracefully: a stopped process
leaves its entry behind), the socket records they left, and orphaned records of instances
that no longer have an entry at all: the same claimed sweep the web processes run
(dead_instance_sweep.py), so sockets still listed get the normal disconnect cleanup. Run
from Celery as well because when no web process is left (or one restarted under a new id),
nobody else would sweep.
"""

from __future__ import annotations

from apps.realtime.dead_instance_sweep import DeadInstanceSweeper
from apps.realtime.loop_services import get_services
from flylive.celery_loop import loop_task

SWEEP_TASK = "realtime.sweep_dead_web_instances"


@loop_task(SWEEP_TASK, timeout=120)
async def sweep_dead_web_instances() -> int:
    """Sweep every dead or orphaned web instance this run can claim; how many are gone.

    The disconnect hooks finish their own work for a swept socket (the rooms app awaits its
    Laravel status report), so nothing is left in flight when this returns."""
    services = get_services()
    sweeper = DeadInstanceSweeper(services.redis, services.sockets,
                                  dead_after_ms=services.config.WEB_INSTANCE_DEAD_AFTER_MS)
    return len(await sweeper.sweep_once())

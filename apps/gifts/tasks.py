"""The gifts app's Celery beat task: flush the gift buffer to Laravel (buffer.py), every
GIFT_BUFFER_FLUSH_INTERVAL_MS. Runs never overlap (the flush lock); a run that finds the lock
taken returns at once."""

from __future__ import annotations

import logging

from apps.gifts.buffer import gift_buffer
from flylive.celery_loop import loop_task

logger = logging.getLogger(__name__)

FLUSH_TASK = "gifts.flush_gift_buffer"


@loop_task(FLUSH_TASK, timeout=60)
async def flush_gift_buffer() -> int:
    """How many transactions this run sent to Laravel."""
    report = await gift_buffer().flush()
    if report.batches:
        logger.info("gift flush: %d batches (%d recovered), %d sent, %d accepted, %d rejected, "
                    "%d retried, %d dead-lettered, %s pending", report.batches, report.recovered_batches,
                    report.sent, report.accepted, report.rejected, report.retried, report.dead_lettered,
                    report.pending_after)
    return report.sent

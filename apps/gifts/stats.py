"""The gift flush's figures, shared by every process through Redis.

The flush runs in Celery workers (prefork children that serve no HTTP), so counters kept in
their memory could never be scraped. Each batch adds its outcome to one Redis hash instead
(`{gifts}:stats`, one HINCRBY pipeline per batch), and every web process's /metrics reads it at
each scrape (`refresh`, one HGETALL) and exposes `flylive_gifts_processed_total{status}` and
`flylive_gift_batch_size` from it (`GiftStatsCollector`), whichever process flushed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from apps.gifts.keys import STATS_KEY
from flylive.metrics import REGISTRY
from flylive.redis_types import AsyncRedis
from flylive.redis_values import as_text

STATUSES = ("success", "failed", "dead_letter")
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100)


async def record(redis: AsyncRedis, *, batch_size: int | None = None, **outcomes: int) -> None:
    """Add one batch's figures: its size, and counts by status (success, failed, dead_letter)."""
    async with redis.pipeline(transaction=False) as pipe:
        for status, count in outcomes.items():
            if count:
                pipe.hincrby(STATS_KEY, f"processed:{status}", count)
        if batch_size is not None:
            pipe.hincrby(STATS_KEY, "batch:count", 1)
            pipe.hincrby(STATS_KEY, "batch:sum", batch_size)
            for bound in BATCH_BUCKETS:
                if batch_size <= bound:
                    pipe.hincrby(STATS_KEY, f"batch:le:{bound}", 1)
        if len(pipe):
            await pipe.execute()


class GiftStatsCollector(Collector):
    """Exposes the figures last read from Redis (`refresh`)."""

    def __init__(self) -> None:
        self.fields: dict[str, int] = {}

    async def refresh(self, redis: AsyncRedis) -> None:
        raw: dict[Any, Any] = await redis.hgetall(STATS_KEY)
        self.fields = {as_text(k): int(v) for k, v in raw.items()}

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        processed = CounterMetricFamily("flylive_gifts_processed", "Gift transactions by outcome",
                                        labels=["status"])
        for status in STATUSES:
            processed.add_metric([status], self.fields.get(f"processed:{status}", 0))
        yield processed
        count = self.fields.get("batch:count", 0)
        buckets = [(str(float(bound)), self.fields.get(f"batch:le:{bound}", 0)) for bound in BATCH_BUCKETS]
        yield HistogramMetricFamily("flylive_gift_batch_size", "Gift transactions per flush",
                                    buckets=[*buckets, ("+Inf", count)],
                                    sum_value=self.fields.get("batch:sum", 0))


GIFT_STATS = GiftStatsCollector()
REGISTRY.register(GIFT_STATS)

"""The dead-letter store: gift transactions that failed GIFT_MAX_RETRIES times (models.GiftDeadLetter).

    await store_dead_letters([DeadLetter(tx, attempts=3)], "POST /gifts/batch: HTTP 503")
    replay_dead_letters(redis_sync)            # manage.py replay_gifts; later the admin action

Storing is idempotent by transaction id (a flush that died after storing and stores again
updates the same row). Replaying puts the transactions back in `gifts:pending` with a fresh
retry budget, under the same transaction ids: Laravel treats an id it already processed as
done, so a replay of a transaction that did go through (an unknown outcome) charges nothing
twice. The rows are deleted in the same database transaction as the push; if the push
fails, nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from redis import Redis as SyncRedis
from redis.cluster import RedisCluster as SyncRedisCluster

from apps.gifts.keys import PENDING_KEY


@dataclass(frozen=True)
class DeadLetter:
    transaction: dict[str, Any]
    attempts: int


def _store(letters: Sequence[DeadLetter], last_error: str) -> None:
    from django.db import close_old_connections, transaction

    from apps.gifts.models import GiftDeadLetter

    close_old_connections()
    with transaction.atomic():
        for letter in letters:
            GiftDeadLetter.objects.update_or_create(
                transaction_id=str(letter.transaction.get("transaction_id")),
                defaults={"transaction": letter.transaction, "last_error": last_error[:2000],
                          "attempts": letter.attempts},
            )


async def store_dead_letters(letters: Sequence[DeadLetter], last_error: str) -> None:
    """Write the rows off the event loop (one database transaction); raises when it fails."""
    if letters:
        await sync_to_async(_store)(list(letters), last_error)


def replay_dead_letters(redis: SyncRedis | SyncRedisCluster, *, ids: Iterable[int] | None = None) -> int:
    """Queue dead-lettered transactions again (all, or the rows with these primary keys) and
    delete their rows; how many were queued."""
    from django.db import transaction

    from apps.gifts.models import GiftDeadLetter

    with transaction.atomic():
        rows = GiftDeadLetter.objects.select_for_update().order_by("created_at", "pk")
        if ids is not None:
            rows = rows.filter(pk__in=list(ids))
        letters = list(rows)
        if not letters:
            return 0
        items = []
        for letter in letters:
            tx = dict(letter.transaction)
            tx.pop("retryCount", None)  # a fresh retry budget
            items.append(json.dumps(tx, separators=(",", ":"), ensure_ascii=False))
        redis.rpush(PENDING_KEY, *items)
        GiftDeadLetter.objects.filter(pk__in=[letter.pk for letter in letters]).delete()
    return len(letters)

"""`manage.py replay_gifts [--id PK ...]`: queue dead-lettered gift transactions again
(apps/gifts/dead_letters.py; the admin's replay action calls the same function)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.gifts.dead_letters import replay_dead_letters
from apps.realtime.redis_client import create_sync_redis
from flylive.config import get_config


class Command(BaseCommand):
    help = "Queue dead-lettered gift transactions for the next flush (all, or the given row ids)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", dest="ids", type=int, action="append",
                            help="a dead letter's id (repeatable); default: every dead letter")

    def handle(self, *args: Any, **options: Any) -> None:
        redis = create_sync_redis(get_config())
        try:
            count = replay_dead_letters(redis, ids=options["ids"])
        finally:
            redis.close()
        self.stdout.write(f"{count} gift transaction(s) queued again")

"""Staff can inspect dead-lettered gifts and queue them again (same service as replay_gifts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.gifts.dead_letters import replay_dead_letters
from apps.gifts.models import GiftDeadLetter
from apps.realtime.redis_client import create_sync_redis
from flylive.config import get_config

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[GiftDeadLetter]
else:  # generic only for the type checker
    _ModelAdmin = admin.ModelAdmin


@admin.register(GiftDeadLetter)
class GiftDeadLetterAdmin(_ModelAdmin):
    list_display = ("transaction_id", "attempts", "last_error", "created_at", "updated_at")
    search_fields = ("transaction_id",)
    readonly_fields = ("transaction_id", "transaction", "last_error", "attempts", "created_at", "updated_at")
    actions = ["replay"]

    @admin.action(description="Queue the selected gifts for Laravel again")
    def replay(self, request: HttpRequest, queryset: QuerySet[GiftDeadLetter]) -> None:
        redis = create_sync_redis(get_config())
        try:
            count = replay_dead_letters(redis, ids=list(queryset.values_list("pk", flat=True)))
        finally:
            redis.close()
        self.message_user(request, f"{count} gift transaction(s) queued again", messages.SUCCESS)

"""Room session history in the admin (read-only: written by apps/rooms/session_history.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from apps.rooms.models import RoomSession

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[RoomSession]
else:  # generic only for the type checker
    _ModelAdmin = admin.ModelAdmin


@admin.register(RoomSession)
class RoomSessionAdmin(_ModelAdmin):
    list_display = ("room_id", "opened_at", "closed_at", "close_reason", "peak_participants", "chat_count",
                    "gift_count")
    list_filter = ("close_reason",)
    search_fields = ("room_id", "session_id")
    date_hierarchy = "opened_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RoomSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RoomSession | None = None) -> bool:
        return False

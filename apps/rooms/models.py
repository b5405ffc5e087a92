"""Room session history (ARCHITECTURE.md, database): one row per room opened and closed."""

from __future__ import annotations

from django.db import models


class RoomSession(models.Model):
    """One life of a room, from the join that created its state to its close.

    Written by apps/rooms/session_history.py: the row appears when the room opens (with
    `opened_at`) and is completed when it closes; the counts are kept in Redis meanwhile."""

    session_id = models.UUIDField(unique=True)
    room_id = models.CharField(max_length=64, db_index=True)
    opened_at = models.DateTimeField(null=True, blank=True)  # None: opened before history was kept
    closed_at = models.DateTimeField(null=True, blank=True)  # None: still open (or never closed)
    close_reason = models.CharField(max_length=64, blank=True, default="")
    peak_participants = models.PositiveIntegerField(default=0)
    gift_count = models.PositiveIntegerField(default=0)
    chat_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["closed_at"])]

    def __str__(self) -> str:
        return f"room {self.room_id} session {self.session_id}"

"""What staff did to rooms and users (the moderation log), and the admin's live-rooms entry.

Every staff action, from the admin or the API, writes one ModerationLog row with its outcome,
including the ones the domain refused (a seat that is not taken, a room already closed)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ModerationAction(models.TextChoices):
    CLOSE_ROOM = "close_room", "close room"
    SEAT_REMOVE = "seat_remove", "remove from seat"
    SEAT_MUTE = "seat_mute", "mute seat"
    SEAT_UNMUTE = "seat_unmute", "unmute seat"
    SEAT_LOCK = "seat_lock", "lock seat"
    SEAT_UNLOCK = "seat_unlock", "unlock seat"
    DISCONNECT_USER = "disconnect_user", "disconnect user"
    GIFT_REPLAY = "gift_replay", "replay dead-lettered gifts"


class ModerationOutcome(models.TextChoices):
    DONE = "done", "done"
    REFUSED = "refused", "refused"  # the domain said no (its text is in `detail`)
    FAILED = "failed", "failed"  # an error on our side (Redis, media node); logged with its traceback


class ModerationLog(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="moderation_actions")
    actor_name = models.CharField(max_length=150, blank=True, default="")  # kept if the user goes
    via = models.CharField(max_length=8, choices=[("admin", "admin"), ("api", "API")])
    action = models.CharField(max_length=32, choices=ModerationAction.choices)
    room_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    target_user_id = models.CharField(max_length=32, blank=True, default="")  # as JS prints it
    seat_index = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=ModerationOutcome.choices)
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "moderation log entry"
        verbose_name_plural = "moderation log"

    def __str__(self) -> str:
        target = " ".join(part for part in (self.room_id and f"room {self.room_id}",
                                            self.target_user_id and f"user {self.target_user_id}",
                                            self.seat_index is not None and f"seat {self.seat_index}")
                          if part)
        return f"{self.get_action_display()} {target} ({self.outcome})"


class LiveRoom(models.Model):
    """No table: the admin's entry for the live rooms, which live in Redis and on media nodes
    (apps/staff/live_rooms.py reads them; apps/staff/admin.py shows them)."""

    room_id = models.CharField(max_length=64, primary_key=True)

    class Meta:
        managed = False
        verbose_name = "live room"
        verbose_name_plural = "live rooms"

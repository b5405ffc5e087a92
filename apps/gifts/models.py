"""Gift transactions Laravel never took (contract 7.3's dead-letter store, kept in the database
so that staff can inspect and replay them: apps/gifts/dead_letters.py)."""

from __future__ import annotations

from django.db import models


class GiftDeadLetter(models.Model):
    transaction_id = models.CharField(max_length=200, unique=True)
    # The transaction as it was last sent (contract 7.3 fields, `sender_socket_id` included).
    transaction = models.JSONField()
    last_error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "dead-lettered gift"

    def __str__(self) -> str:
        return self.transaction_id

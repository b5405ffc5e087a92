from __future__ import annotations

from django.apps import AppConfig


class SeatsConfig(AppConfig):
    name = "apps.seats"
    label = "seats"

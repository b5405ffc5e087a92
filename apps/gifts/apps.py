from __future__ import annotations

from django.apps import AppConfig


class GiftsConfig(AppConfig):
    name = "apps.gifts"
    label = "gifts"
    verbose_name = "Gifts"

"""Django app config: at start-up, every app's `events` module registers its handlers."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    label = "realtime"

    def ready(self) -> None:
        from apps.realtime.correlation import install_log_record_factory
        from flylive.config import get_config

        install_log_record_factory()
        autodiscover_modules("events")  # fills dispatch.REGISTRY (apps.rooms.events, ...)
        if get_config().FLYLIVE_TEST_EVENTS:
            from apps.realtime.probe_events import register_probe_events

            register_probe_events()

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
        autodiscover_modules("events")  # fills event_registry.REGISTRY (apps.rooms.events, ...)
        if get_config().FLYLIVE_TEST_EVENTS:
            refuse_probes_in_production()
            from apps.realtime.probe_events import register_probe_events

            register_probe_events()


def refuse_probes_in_production() -> None:
    """The config already refuses FLYLIVE_TEST_EVENTS with NODE_ENV=production; this also
    catches the production settings chosen under another NODE_ENV."""
    from django.conf import settings

    from flylive.config import SETTINGS_MODULES, ConfigError, get_config

    if get_config().NODE_ENV == "production" or SETTINGS_MODULES["production"] == settings.SETTINGS_MODULE:
        raise ConfigError("Invalid configuration:\n  FLYLIVE_TEST_EVENTS: test-only events cannot be "
                          "enabled with the production settings")

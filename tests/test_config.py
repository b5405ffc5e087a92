"""Start-up configuration: the contract's names and defaults; bad values stop start-up by name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flylive.config import ConfigError, load_config
from tests.support.processes import repo_root

REQUIRED = {
    "JWT_SECRET": "s" * 32,
    "LARAVEL_API_URL": "https://laravel.example",
    "LARAVEL_INTERNAL_KEY": "k" * 32,
}


def test_defaults_are_the_contracts(env: pytest.MonkeyPatch) -> None:
    config = load_config()
    assert (config.PORT, config.REDIS_DB, config.JWT_MAX_AGE_SECONDS) == (3030, 3, 86400)
    assert config.CORS_ORIGINS == ("https://flyliveapp.com", "https://www.flyliveapp.com")
    assert config.MSAB_EVENTS_CHANNEL == "flylive:msab:events"
    assert config.MSAB_EVENTS_ENABLED is True
    assert (config.MEDIASOUP_RTC_MIN_PORT, config.MEDIASOUP_RTC_MAX_PORT) == (10000, 59999)
    assert (config.MAX_ROOMS_PER_WORKER, config.MAX_LISTENERS_PER_DISTRIBUTION_ROUTER) == (100, 700)
    assert config.ROOM_INACTIVITY_TIMEOUT_MS == 30000
    assert config.redis_url == "redis://127.0.0.1:6379/3"


def test_lists_and_flags_parse_like_the_baseline(env: pytest.MonkeyPatch) -> None:
    env.setenv("CORS_ORIGINS", " https://a.example , https://b.example,")
    env.setenv("MSAB_EVENTS_ENABLED", "0")
    env.setenv("REDIS_TLS", "1")
    env.setenv("REDIS_PASSWORD", "pw")
    config = load_config()
    assert config.CORS_ORIGINS == ("https://a.example", "https://b.example")
    assert config.MSAB_EVENTS_ENABLED is False
    assert config.redis_url == "rediss://:pw@127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("JWT_SECRET", None, "JWT_SECRET: is required"),
        ("JWT_SECRET", "short", "JWT_SECRET: String should have at least 32 characters"),
        ("LARAVEL_API_URL", "not a url", "LARAVEL_API_URL: Value error, must be an http(s) URL"),
        ("LARAVEL_INTERNAL_KEY", None, "LARAVEL_INTERNAL_KEY: is required"),
        ("PORT", "eighty", "PORT: Input should be a valid integer"),
        ("MSAB_EVENTS_ENABLED", "maybe", "MSAB_EVENTS_ENABLED: Value error, must be one of"),
        ("NODE_ENV", "staging", "NODE_ENV: Input should be"),
    ],
)
def test_invalid_configuration_names_the_variable(
    env: pytest.MonkeyPatch, name: str, value: str | None, reason: str
) -> None:
    if value is None:
        env.delenv(name)
    else:
        env.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert reason in str(caught.value.code)


def test_a_server_process_refuses_to_start_without_required_settings() -> None:
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "flylive.settings.prod",
           "LARAVEL_API_URL": "https://laravel.example", "LARAVEL_INTERNAL_KEY": "k" * 32}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=repo_root(), env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "Invalid configuration" in result.stderr
    assert "JWT_SECRET: is required" in result.stderr


def test_web_instance_liveness_defaults_and_a_threshold_below_two_heartbeats_is_refused(
    env: pytest.MonkeyPatch,
) -> None:
    config = load_config()
    assert (config.WEB_INSTANCE_HEARTBEAT_MS, config.WEB_INSTANCE_DEAD_AFTER_MS,
            config.WEB_INSTANCE_SWEEP_INTERVAL_MS) == (5000, 30000, 10000)
    env.setenv("WEB_INSTANCE_HEARTBEAT_MS", "1000")
    env.setenv("WEB_INSTANCE_DEAD_AFTER_MS", "1500")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "DEAD_AFTER_MS must be at least twice WEB_INSTANCE_HEARTBEAT_MS" in str(caught.value.code)

"""Production start-up: every entry point picks its settings from NODE_ENV and runs with
DEBUG off; Django's SECRET_KEY is its own variable; test-only events cannot be enabled;
no secret is a Django setting (a debug page or `diffsettings` prints settings)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flylive.config import DEVELOPMENT_SECRET_KEY, AppConfig, ConfigError, load_config
from tests.support.processes import repo_root

JWT_SECRET = "jwt-secret-jwt-secret-jwt-secret-0123456789"
INTERNAL_KEY = "internal-key-internal-key-internal-key-0123"
REDIS_PASSWORD = "redis-password-redis-password-0123"
DJANGO_KEY = "django-key-django-key-django-key-django-key-0123"
PRODUCTION = {
    "PATH": "/usr/bin:/bin", "NODE_ENV": "production", "JWT_SECRET": JWT_SECRET,
    "LARAVEL_API_URL": "https://laravel.example", "LARAVEL_INTERNAL_KEY": INTERNAL_KEY,
    "REDIS_PASSWORD": REDIS_PASSWORD, "DJANGO_SECRET_KEY": DJANGO_KEY, "DATABASE_URL": "sqlite:///:memory:",
}
SECRETS = (JWT_SECRET, INTERNAL_KEY, REDIS_PASSWORD)

# Prints the settings module, DEBUG, whether SECRET_KEY is DJANGO_SECRET_KEY, and every setting's repr.
SHOW_SETTINGS = """
import sys
from django.conf import settings
print(settings.SETTINGS_MODULE, settings.DEBUG, settings.SECRET_KEY == {key!r})
for name in dir(settings):
    if name.isupper() and name != "SECRET_KEY":
        print(name, repr(getattr(settings, name)))
"""
ENTRY_POINTS = {
    "asgi": "import flylive.asgi\n",
    "celery": "import django\nfrom flylive.celery import app\ndjango.setup()\n"
              "print('celery broker has the password:', {pw!r} in app.conf.broker_url)\n",
}


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=repo_root() / "tests", env={
        **env, "PYTHONPATH": str(repo_root())}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_points_run_production_settings_with_debug_off(entry: str) -> None:
    code = ENTRY_POINTS[entry].format(pw=REDIS_PASSWORD) + SHOW_SETTINGS.format(key=DJANGO_KEY)
    result = run_python(code, PRODUCTION)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    if entry == "celery":
        assert lines.pop(0) == "celery broker has the password: True"
    assert lines[0] == "flylive.settings.prod False True"
    settings_text = "\n".join(lines[1:])
    assert "CHANNEL_LAYERS" in settings_text
    for secret in SECRETS:
        assert secret not in settings_text


def test_manage_py_runs_production_settings_with_debug_off() -> None:
    result = subprocess.run(
        [sys.executable, str(repo_root() / "manage.py"), "diffsettings", "--all"],
        cwd=repo_root() / "tests", env=PRODUCTION, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "DEBUG = False" in result.stdout
    assert "SETTINGS_MODULE = 'flylive.settings.prod'" in result.stdout
    for secret in SECRETS:
        assert secret not in result.stdout


@pytest.mark.parametrize(("node_env", "module"), [
    ("development", "flylive.settings.dev True"), ("test", "flylive.settings.test False")])
def test_other_environments_pick_their_settings(node_env: str, module: str) -> None:
    env = {**PRODUCTION, "NODE_ENV": node_env}
    del env["DJANGO_SECRET_KEY"]
    result = run_python("import flylive.asgi\n" + SHOW_SETTINGS.format(key=DEVELOPMENT_SECRET_KEY), env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{module} True"  # the public development key


@pytest.mark.parametrize("entry", ["import flylive.asgi", "import flylive.celery"])
def test_production_without_django_secret_key_stops_naming_it(entry: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "DJANGO_SECRET_KEY"}
    result = run_python(entry, env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY: is required" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module", ["flylive.settings.dev", "flylive.settings.test"])
def test_development_and_test_settings_refuse_production(module: str) -> None:
    result = run_python("import flylive.asgi", {**PRODUCTION, "DJANGO_SETTINGS_MODULE": module})
    assert result.returncode != 0
    assert f"DJANGO_SETTINGS_MODULE: {module} cannot run with NODE_ENV=production" in result.stderr


def test_test_events_are_refused_in_production() -> None:
    result = run_python("import flylive.asgi", {**PRODUCTION, "FLYLIVE_TEST_EVENTS": "1"})
    assert result.returncode != 0
    assert "FLYLIVE_TEST_EVENTS: test-only events cannot be enabled" in result.stderr


def test_test_events_are_refused_by_the_production_settings_under_another_node_env() -> None:
    env = {**PRODUCTION, "NODE_ENV": "development", "FLYLIVE_TEST_EVENTS": "1",
           "DJANGO_SETTINGS_MODULE": "flylive.settings.prod"}
    result = run_python("import flylive.asgi", env)
    assert result.returncode != 0
    assert "FLYLIVE_TEST_EVENTS: test-only events cannot be enabled with the production settings" in (
        result.stderr)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(AppConfig.model_fields):
        monkeypatch.delenv(name, raising=False)
    for name in ("JWT_SECRET", "LARAVEL_API_URL", "LARAVEL_INTERNAL_KEY"):
        monkeypatch.setenv(name, PRODUCTION[name])
    monkeypatch.chdir(repo_root() / "tests")  # no .env file here
    return monkeypatch


@pytest.mark.parametrize("reused", [JWT_SECRET, INTERNAL_KEY])
def test_django_secret_key_is_never_another_secret(env: pytest.MonkeyPatch, reused: str) -> None:
    env.setenv("DJANGO_SECRET_KEY", reused)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "DJANGO_SECRET_KEY: must be its own secret" in str(caught.value.code)


def test_outside_production_the_django_key_is_the_public_development_one(env: pytest.MonkeyPatch) -> None:
    config = load_config()
    assert config.django_secret_key == DEVELOPMENT_SECRET_KEY
    assert config.django_secret_key not in (config.JWT_SECRET, config.LARAVEL_INTERNAL_KEY)


def test_the_web_entry_point_freezes_what_it_loaded_out_of_full_collections() -> None:
    code = ("import gc, flylive.asgi\n"
            "print(gc.get_freeze_count(), len(gc.get_objects()))\n")
    result = run_python(code, PRODUCTION)
    assert result.returncode == 0, result.stderr
    frozen, still_collected = map(int, result.stdout.split())
    assert frozen > 50_000  # Django, the apps and their libraries
    assert still_collected < frozen / 10

"""A real web process with a staff database for the admin and API tests: an SQLite file migrated
and given users (a superuser with a password and a token, a plain user with a token) before the
server starts on it."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import RedisServer, process_env, repo_root
from tests.support.server import LiveServer, ServerKind, run_server, server_env

STAFF_PASSWORD = "staff-password-0123"
_MAKE_USERS = """
import json
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
staff = User.objects.create_superuser("alice", "alice@example.com", {password!r})
plain = User.objects.create_user("bob", "bob@example.com", "bob-password-0123")
keys = {{"staff": Token.objects.create(user=staff).key, "plain": Token.objects.create(user=plain).key}}
print(json.dumps(keys))
"""


@dataclass(frozen=True)
class StaffServer:
    live: LiveServer
    staff_token: str
    plain_token: str
    database: Path

    @property
    def url(self) -> str:
        return self.live.url


def manage(env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run([str(repo_root() / ".venv" / "bin" / "python"), "manage.py", *args],
                          env=process_env(env), cwd=repo_root(), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def staff_env(redis: RedisServer, database: Path, **overrides: str) -> dict[str, str]:
    env = server_env(redis, DATABASE_URL=f"sqlite:///{database}", **overrides)
    manage(env, "migrate", "--noinput")
    return env


@contextlib.contextmanager
def run_staff_server(env: Mapping[str, str], database: Path, *, server: ServerKind = "uvicorn",
                     port: int | None = None) -> Iterator[StaffServer]:
    tokens = json.loads(manage(env, "shell", "-c", _MAKE_USERS.format(password=STAFF_PASSWORD)).strip()
                        .splitlines()[-1])
    with run_server(env, server=server, port=port) as live:
        yield StaffServer(live, tokens["staff"], tokens["plain"], database)

"""The real server as a subprocess, for end-to-end tests, and JWTs to connect to it.

    env = server_env(redis_server, FLYLIVE_TEST_EVENTS="1")
    with run_server(env, server="uvicorn") as live:      # or "daphne", "uvicorn-wsproto", "granian"
        sio = socketio.AsyncClient()
        await sio.connect(live.url, transports=["websocket"], auth={"token": make_token(user_claims())})

`run_server` starts `daphne`, `uvicorn` (websockets-sansio or wsproto) or `granian` on a free
port with exactly the given environment (plus PATH/HOME/LANG and the repo on PYTHONPATH: nothing else leaks
from the test process), waits until it listens, yields a `LiveServer` and
terminates it. The server's output goes to a log file whose tail is shown if it
fails to start (and readable at `live.log_path`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt

from tests.support.processes import (
    RedisServer,
    free_port,
    process_env,
    repo_root,
    stop_process,
    wait_for_port,
)

TEST_JWT_SECRET = "live-test-jwt-secret-0123456789abcdef"
TEST_INTERNAL_KEY = "live-test-internal-key-0123456789abcdef"
TEST_ORIGIN = "https://flyliveapp.com"
ServerKind = Literal["daphne", "uvicorn", "uvicorn-wsproto", "granian"]


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    port: int
    kind: ServerKind
    env: Mapping[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        """The raw websocket endpoint (Engine.IO 4)."""
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def server_env(redis: RedisServer, **overrides: str) -> dict[str, str]:
    """A complete server environment for the test redis (DB 3, as in production); `overrides` win."""
    env = {
        "DJANGO_SETTINGS_MODULE": "flylive.settings.test",
        "NODE_ENV": "test",
        "LOG_LEVEL": "info",
        "REDIS_HOST": redis.host,
        "REDIS_PORT": str(redis.port),
        "REDIS_DB": "3",
        "JWT_SECRET": TEST_JWT_SECRET,
        "LARAVEL_API_URL": "http://127.0.0.1:9",
        "LARAVEL_INTERNAL_KEY": TEST_INTERNAL_KEY,
        "CORS_ORIGINS": f"{TEST_ORIGIN},https://www.flyliveapp.com",
        "DATABASE_URL": "sqlite:///:memory:",
    }
    env.update(overrides)
    return env


def _command(kind: ServerKind, port: int) -> list[str]:
    bin_dir = repo_root() / ".venv" / "bin"
    if kind == "daphne":
        return [str(bin_dir / "daphne"), "-b", "127.0.0.1", "-p", str(port), "flylive.asgi:application"]
    if kind == "granian":  # as bin/web runs it with WEB_SERVER=granian
        return [str(bin_dir / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--ws", "--no-access-log", "flylive.asgi:application"]
    # As bin/web runs it in production (websockets-sansio, the one direct_write.py writes to), or
    # with WEB_WS=wsproto.
    ws = "wsproto" if kind == "uvicorn-wsproto" else "websockets-sansio"
    return [str(bin_dir / "uvicorn"), "flylive.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--ws", ws, "--ws-per-message-deflate", "false", "--ws-ping-interval", "0", "--no-access-log"]


@contextlib.contextmanager
def run_server(env: Mapping[str, str], *, server: ServerKind = "daphne",
               startup_timeout: float = 30.0, port: int | None = None) -> Iterator[LiveServer]:
    """`port`: a port chosen beforehand (e.g. so that CORS_ORIGINS can name the server's own origin)."""
    port = port if port is not None else free_port()
    full_env = process_env(env)
    log_fd, log_name = tempfile.mkstemp(prefix=f"flylive-{server}-{port}-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(log_fd, "wb") as log:
        proc = subprocess.Popen(_command(server, port), cwd=repo_root(), env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
    live = LiveServer(f"http://127.0.0.1:{port}", port, server, full_env, proc, log_path)
    try:
        try:
            wait_for_port(port, timeout=startup_timeout, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{server} did not start: {exc}\n{live.log_tail()}") from exc
        yield live
    finally:
        stop_process(proc, grace=10.0)


def user_claims(user_id: int | float = 42, **overrides: Any) -> dict[str, Any]:
    """The 16 claims Laravel puts in a token (contract 1.4), with iat/exp one day apart."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "id": user_id, "name": f"User {user_id}", "signature": "1234567", "email": f"u{user_id}@example.com",
        "avatar": "https://cdn.example.com/a.png", "frame": "gold", "gender": "male",
        "date_of_birth": "1990-01-01", "phone": "+10000000000", "country": "EG", "coins": "100",
        "diamonds": "5", "wealth_xp": "10", "charm_xp": "20", "is_blocked": False, "isSpeaker": False,
        "iat": now, "exp": now + 86400,
    }
    claims.update(overrides)
    return claims


def make_token(claims: Mapping[str, Any] | None = None, secret: str = TEST_JWT_SECRET, *,
               headers: Mapping[str, Any] | None = None, **overrides: Any) -> str:
    """An HS256 JWT of `claims` (default: `user_claims()`), with `overrides` applied to them.

    An override whose value is `...` removes that claim."""
    payload = dict(claims if claims is not None else user_claims())
    for key, value in overrides.items():
        if value is ...:
            payload.pop(key, None)
        else:
            payload[key] = value
    return jwt.encode(payload, secret, algorithm="HS256", headers=dict(headers) if headers else None)

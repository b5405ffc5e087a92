"""`manage.py runmedia` as a subprocess for end-to-end tests (beside tests/support/server.py's web server)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import redis as sync_redis

from apps.media.node_registry import MEDIA_NODES_KEY
from tests.support.processes import process_env, repo_root


@dataclass(frozen=True)
class MediaNodeProcess:
    proc: subprocess.Popen[bytes]
    node_id: str
    log_path: Path

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def media_env(env: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """Media settings for loopback tests: a random port block so parallel suites do not collide."""
    base = random.randrange(20000, 40000, 50)
    media = {
        "MEDIASOUP_LISTEN_IP": "127.0.0.1",
        "MEDIASOUP_RTC_MIN_PORT": str(base),
        "MEDIASOUP_RTC_MAX_PORT": str(base + 2000),
        "MEDIASOUP_NUM_WORKERS": "1",
    }
    return {**env, **media, **overrides}


@contextlib.contextmanager
def run_media_node(env: Mapping[str, str], *, node_id: str | None = None, extra_args: tuple[str, ...] = (),
                   startup_timeout: float = 30.0) -> Iterator[MediaNodeProcess]:
    node_id = node_id or f"test-node-{os.getpid()}-{random.randrange(1 << 30):x}"
    full_env = process_env(env)
    log_fd, log_name = tempfile.mkstemp(prefix="flylive-media-", suffix=".log")
    with os.fdopen(log_fd, "wb") as log:
        proc = subprocess.Popen([str(repo_root() / ".venv" / "bin" / "python"), "manage.py", "runmedia",
                                 "--node-id", node_id, *extra_args], cwd=repo_root(), env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
    node = MediaNodeProcess(proc, node_id, Path(log_name))
    client = sync_redis.Redis(host=env["REDIS_HOST"], port=int(env["REDIS_PORT"]), db=int(env["REDIS_DB"]))
    try:
        deadline = time.monotonic() + startup_timeout
        while not client.hexists(MEDIA_NODES_KEY, node_id):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"runmedia did not register:\n{node.log_tail()}")
            time.sleep(0.1)
        yield node
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

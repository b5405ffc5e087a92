"""Real processes for tests: free ports, a redis-server, waiting for a port."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0,
                  proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def redis_binary(name: str = "redis-server") -> str:
    binary = shutil.which(name)
    if binary is None:
        raise RuntimeError(f"{name} is not installed (bin/setup installs the Debian package redis-server)")
    return binary


def start_redis_process(args: list[str], port: int) -> subprocess.Popen[bytes]:
    """`redis-server args`, once it listens on `port` (killed if it never does)."""
    proc = subprocess.Popen([redis_binary(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
    except BaseException:
        proc.kill()
        proc.wait(timeout=5)
        raise
    return proc


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    proc: subprocess.Popen[bytes]

    def url(self, db: int = 3) -> str:
        return f"redis://{self.host}:{self.port}/{db}"


@contextlib.contextmanager
def run_redis_server() -> Iterator[RedisServer]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="flylive-redis-") as tmp:
        proc = start_redis_process(["--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", tmp, "--loglevel", "warning"], port)
        try:
            yield RedisServer("127.0.0.1", port, proc)
        finally:
            stop_process(proc)


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """A server subprocess's environment: only what it needs from ours, then `env`."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONPATH": str(repo_root()),
        "PYTHONUNBUFFERED": "1",
        **env,
    }


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def clean_redis_db(
    server: RedisServer, db: int, *, decode_responses: bool = False
) -> AsyncIterator[Redis]:
    """A client on an emptied DB of the test redis-server (each test suite uses its own DB)."""
    client: Redis = Redis.from_url(server.url(db=db), decode_responses=decode_responses)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()

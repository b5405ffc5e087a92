"""What the benchmarks share: a minimal Socket.IO client over a raw websocket (thousands fit in
one process; python-socketio's client costs far more per socket), tokens, percentiles, and
the server stack on loopback (media node, web process, optionally Celery worker + beat)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson
import psutil
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import free_port, stop_process, wait_for_port  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-01"
ACK_TIMEOUT_S = 30.0


def make_token(user_id: int) -> str:
    now = int(time.time())
    claims = {
        "id": user_id, "name": f"user{user_id}", "signature": "", "email": f"u{user_id}@example.com",
        "avatar": "", "frame": "", "gender": "1", "date_of_birth": "2000-01-01", "phone": "",
        "country": "US", "coins": "0", "diamonds": "0", "wealth_xp": "0", "charm_xp": "0",
        "is_blocked": False, "isSpeaker": False, "iat": now, "exp": now + 3600,
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


@dataclass
class BenchSocket:
    """One Socket.IO client over a raw websocket: acks by id, events to a callback."""

    url: str
    token: str
    on_event: Callable[[str, Any, float], None] | None = None
    ws: Any = None
    acks: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    next_id: int = 0
    reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=None, compression=None, open_timeout=30)
        opening = await self.ws.recv()
        if not str(opening).startswith("0"):
            raise RuntimeError(f"unexpected open packet {opening!r}")
        await self.ws.send("40" + orjson.dumps({"token": self.token}).decode())
        reply = str(await self.ws.recv())
        if not reply.startswith("40"):
            raise RuntimeError(f"connect refused: {reply!r}")
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in self.ws:
                now = time.perf_counter()
                text = str(frame)
                if text == "2":
                    await self.ws.send("3")
                elif text.startswith("43"):
                    body = text[2:]
                    split = body.index("[")
                    fut = self.acks.pop(int(body[:split]), None)
                    if fut is not None and not fut.done():
                        fut.set_result(orjson.loads(body[split:])[0])
                elif text.startswith("42") and self.on_event is not None:
                    name, *args = orjson.loads(text[2:])
                    self.on_event(name, args[0] if args else None, now)

    async def call(self, event: str, payload: Any) -> Any:
        ack_id = self.next_id
        self.next_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = fut
        await self.ws.send(f"42{ack_id}" + orjson.dumps([event, payload]).decode())
        return await asyncio.wait_for(fut, ACK_TIMEOUT_S)

    async def send(self, event: str, payload: Any) -> None:
        await self.ws.send("42" + orjson.dumps([event, payload]).decode())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class BenchStack:
    url: str  # the Socket.IO websocket endpoint
    http: str  # http://127.0.0.1:PORT
    env: dict[str, str]
    web: subprocess.Popen[bytes]
    media: subprocess.Popen[bytes]
    celery: list[subprocess.Popen[bytes]]

    def web_pids(self) -> list[int]:
        """The web tier's processes: the server's own and its workers (every descendant)."""
        root = psutil.Process(self.web.pid)
        return [root.pid, *(child.pid for child in root.children(recursive=True))]


@contextlib.contextmanager
def run_stack(server: str, redis_port: int, *, media_workers: int = 1, celery: bool = False,
              extra_env: dict[str, str] | None = None, web_workers: int = 1,
              ws: str = "websockets-sansio", deflate: bool = False) -> Iterator[BenchStack]:
    """Media node, web tier (bin/web: `web_workers` processes of `server` behind one port) and
    (with `celery`) a Celery worker + beat, in production settings."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flylive.settings.prod",
        "NODE_ENV": "production", "LOG_LEVEL": "warn",
        "DJANGO_SECRET_KEY": "bench-django-secret-bench-django-secret-0123",
        "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_port),
        "JWT_SECRET": SECRET,
        "LARAVEL_API_URL": "http://127.0.0.1:9", "LARAVEL_INTERNAL_KEY": "k" * 40,
        "LARAVEL_API_TIMEOUT_MS": "200",
        "MEDIASOUP_NUM_WORKERS": str(media_workers), "MEDIASOUP_LISTEN_IP": "127.0.0.1",
        "MAX_ROOMS_PER_WORKER": "5000",
        "MEDIASOUP_RTC_MIN_PORT": str(free_port()), "MEDIASOUP_RTC_MAX_PORT": "65000",
        "DATABASE_URL": f"sqlite:////tmp/flylive-bench-{port}.sqlite3",
        **(extra_env or {}),
    }
    py = str(ROOT / ".venv/bin/python")
    log_path = Path(f"/tmp/flylive-bench-{server}-{port}.log")
    log = log_path.open("wb")
    print(f"  server logs: {log_path}")
    subprocess.run([py, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, stdout=log, stderr=log,
                   check=True)
    media = subprocess.Popen([py, "manage.py", "runmedia"], cwd=ROOT, env=env, stdout=log, stderr=log)
    web_env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_SERVER": server,
               "WEB_WORKERS": str(web_workers), "WEB_WS": ws,
               "WS_PER_MESSAGE_DEFLATE": "true" if deflate else "false"}
    quiet = ["-v", "0"] if server == "daphne" else ["--log-level", "warning"]
    web = subprocess.Popen([str(ROOT / "bin/web"), *quiet], cwd=ROOT, env=web_env, stdout=log, stderr=log)
    jobs: list[subprocess.Popen[bytes]] = []
    if celery:
        celery_bin = str(ROOT / ".venv/bin/celery")
        jobs.append(subprocess.Popen([celery_bin, "-A", "flylive", "worker", "--loglevel=warning",
                                      "--concurrency=1"], cwd=ROOT, env=env, stdout=log, stderr=log))
        jobs.append(subprocess.Popen([celery_bin, "-A", "flylive", "beat", "--loglevel=warning",
                                      "--schedule", f"/tmp/flylive-bench-beat-{port}"],
                                     cwd=ROOT, env=env, stdout=log, stderr=log))
    try:
        wait_for_port(port, proc=web, timeout=60)
        time.sleep(2.0)  # let the media node register its heartbeat
        yield BenchStack(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
                         f"http://127.0.0.1:{port}", env, web, media, jobs)
    finally:
        for proc in (web, *jobs, media):  # web first: its disconnect cleanup still talks to media
            stop_process(proc, grace=15.0)
        log.close()

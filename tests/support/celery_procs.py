"""Real Celery worker and beat processes for tests (`celery -A flylive ...`, as bin/serve runs them).

    env = server_env(redis_server, REDIS_DB="9", ROOM_AUTO_CLOSE_POLL_INTERVAL_MS="300")
    with run_celery_worker(env, name="w1") as worker, run_celery_beat(env) as beat:
        ...
        worker.wait_for_log("rooms.auto_close_idle_rooms")   # a run reached the worker

Both get exactly `env` (plus PATH/HOME/LANG and the repo on PYTHONPATH: tests.support.processes);
the broker is the app's Redis DB, so give each test module its own REDIS_DB and flush it first.
Output goes to a log file (`proc.log_path`), whose tail is shown when a process fails to start.
A worker is ready when it logs `ready.`; beat when it logs that it is starting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.support.processes import process_env, repo_root

CeleryKind = Literal["worker", "beat"]


@dataclass(frozen=True)
class CeleryProcess:
    kind: CeleryKind
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, *, timeout: float = 30.0) -> None:
        """Block until `text` appears in the log (the process must stay alive meanwhile)."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery {self.kind} {self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"celery {self.kind} {self.name} never logged {text!r}:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)


def _celery() -> str:
    return str(repo_root() / ".venv" / "bin" / "celery")


@contextlib.contextmanager
def _run(kind: CeleryKind, name: str, args: list[str], env: Mapping[str, str], ready_text: str,
         startup_timeout: float) -> Iterator[CeleryProcess]:
    log_fd, log_name = tempfile.mkstemp(prefix=f"flylive-celery-{kind}-{name}-", suffix=".log")
    with os.fdopen(log_fd, "wb") as log:
        proc = subprocess.Popen([_celery(), "-A", "flylive", kind, *args], cwd=repo_root(),
                                env=process_env(env), stdout=log, stderr=subprocess.STDOUT)
    celery = CeleryProcess(kind, name, proc, Path(log_name))
    try:
        celery.wait_for_log(ready_text, timeout=startup_timeout)
        yield celery
    finally:
        stop(celery)


def stop(celery: CeleryProcess, *, timeout: float = 10.0) -> None:
    """SIGTERM (Celery's warm shutdown), then SIGKILL if it does not exit in time."""
    if celery.proc.poll() is None:
        celery.proc.send_signal(signal.SIGTERM)
        try:
            celery.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            celery.proc.kill()
            celery.proc.wait(timeout=5)


@contextlib.contextmanager
def run_celery_worker(env: Mapping[str, str], *, name: str = "worker", pool: str = "solo",
                      concurrency: int = 1, startup_timeout: float = 60.0) -> Iterator[CeleryProcess]:
    """A worker (`-n <name>@%h`). The solo pool runs tasks in the worker process itself: one
    process, one task loop; `pool="prefork"` with `concurrency` is bin/serve's shape."""
    args = ["--loglevel=info", "-n", f"{name}@%h", f"--pool={pool}", f"--concurrency={concurrency}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with _run("worker", name, args, env, " ready.", startup_timeout) as worker:
        yield worker


@contextlib.contextmanager
def run_celery_beat(env: Mapping[str, str], *, startup_timeout: float = 60.0) -> Iterator[CeleryProcess]:
    """Beat with a fresh schedule file (the schedule itself comes from settings)."""
    with tempfile.TemporaryDirectory(prefix="flylive-beat-") as tmp:
        args = ["--loglevel=info", "--schedule", str(Path(tmp) / "schedule"), "--max-interval", "1"]
        with _run("beat", "beat", args, env, "beat: Starting", startup_timeout) as beat:
            yield beat

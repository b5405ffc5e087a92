"""Spawning the mediasoup-worker process the way mediasoup's Node library does, safely.

fd 0 = /dev/null, fd 1/2 = pipes we log, fd 3 = requests to the worker, fd 4 = messages
from it. The fds are placed with `os.posix_spawn` dup2 file actions (no Python code runs
between fork and exec, unlike `preexec_fn`), and the exit is watched with a pidfd.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)
worker_output_logger = logging.getLogger("apps.media.mediasoup.worker_log")

# Pipe ends are moved to fds >= this so the dup2 actions onto 0..4 can never clobber a source.
_HIGH_FD = 10
_STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class ExitStatus:
    """How the worker process ended: an exit code, or the signal that killed it."""

    exit_code: int | None
    signal_number: int | None

    @classmethod
    def from_wait_status(cls, status: int) -> ExitStatus:
        if os.WIFSIGNALED(status):
            return cls(exit_code=None, signal_number=os.WTERMSIG(status))
        return cls(exit_code=os.waitstatus_to_exitcode(status), signal_number=None)

    @property
    def signal_name(self) -> str | None:
        if self.signal_number is None:
            return None
        try:
            return signal.Signals(self.signal_number).name
        except ValueError:
            return str(self.signal_number)

    def describe(self) -> str:
        if self.signal_number is not None:
            return f"killed by {self.signal_name}"
        return f"exit code {self.exit_code}"


def _high_cloexec(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD)
    os.close(fd)
    return moved


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    return _high_cloexec(read_end), _high_cloexec(write_end)


class _LineLogger(asyncio.Protocol):
    """Logs what the worker prints on stdout/stderr (mediasoup logs there only on bugs)."""

    def __init__(self, process: WorkerProcess, stream: str, level: int) -> None:
        self._process = process
        self._stream = stream
        self._level = level
        self._partial = b""

    def data_received(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._emit(line)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._partial:
            self._emit(self._partial)
        self._process._stream_closed()

    def _emit(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip()
        if not line:
            return
        if self._stream == "stderr":
            self._process.stderr_tail.append(line)
        worker_output_logger.log(self._level, "[pid:%s] (%s) %s", self._process.pid, self._stream, line)


@dataclass(eq=False)
class WorkerProcess:
    """A running mediasoup-worker and our ends of its channel pipes."""

    pid: int
    channel_read_fd: int
    channel_write_fd: int
    _pidfd: int | None
    stderr_tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=_STDERR_TAIL_LINES)
    )
    _exit: asyncio.Future[ExitStatus] | None = None
    _open_streams: int = 0
    _stream_transports: list[asyncio.BaseTransport] = field(default_factory=list)
    _poll_task: asyncio.Task[None] | None = None
    _drained: asyncio.Event = field(default_factory=asyncio.Event)

    async def start_output_logging(self, stdout_fd: int, stderr_fd: int) -> None:
        loop = asyncio.get_running_loop()
        for fd, stream, level in ((stdout_fd, "stdout", logging.DEBUG), (stderr_fd, "stderr", logging.ERROR)):
            transport, _ = await loop.connect_read_pipe(
                functools.partial(_LineLogger, self, stream, level), os.fdopen(fd, "rb", buffering=0)
            )
            self._stream_transports.append(transport)
            self._open_streams += 1

    def _stream_closed(self) -> None:
        self._open_streams -= 1
        if self._open_streams == 0:
            self._drained.set()

    async def output_drained(self, limit_seconds: float) -> None:
        """Wait (a bounded time) until stdout and stderr reached EOF, i.e. everything was logged."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), limit_seconds)

    def wait(self) -> asyncio.Future[ExitStatus]:
        """A future resolved with the exit status once the process has ended (and is reaped)."""
        if self._exit is None:
            loop = asyncio.get_running_loop()
            self._exit = loop.create_future()
            if self._pidfd is not None:
                loop.add_reader(self._pidfd, self._try_reap)
            else:
                self._poll_task = loop.create_task(self._poll_reap())
            self._try_reap()
        return self._exit

    @property
    def returned(self) -> bool:
        return self._exit is not None and self._exit.done()

    def send_signal(self, sig: int) -> None:
        if self.returned:
            return
        with contextlib.suppress(ProcessLookupError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, sig)
            else:
                os.kill(self.pid, sig)

    def _try_reap(self) -> None:
        assert self._exit is not None
        if self._exit.done():
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            # Someone else reaped it (a foreign SIGCHLD handler): the status is lost.
            self._finish(ExitStatus(exit_code=None, signal_number=None))
            return
        if pid == 0:
            return
        self._finish(ExitStatus.from_wait_status(status))

    def _finish(self, status: ExitStatus) -> None:
        assert self._exit is not None
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._exit.set_result(status)

    async def _poll_reap(self) -> None:
        assert self._exit is not None
        while not self._exit.done():
            await asyncio.sleep(0.05)
            self._try_reap()


def spawn_worker_process(
    binary: str, args: Sequence[str], env: Mapping[str, str]
) -> tuple[WorkerProcess, int, int]:
    """Start the worker; returns the process and our ends of its stdout and stderr pipes."""
    to_worker_r, to_worker_w = _pipe()
    from_worker_r, from_worker_w = _pipe()
    stdout_r, stdout_w = _pipe()
    stderr_r, stderr_w = _pipe()
    devnull = _high_cloexec(os.open(os.devnull, os.O_RDONLY))
    child_ends = (to_worker_r, from_worker_w, stdout_w, stderr_w, devnull)
    try:
        pid = os.posix_spawn(
            binary,
            [binary, *args],
            dict(env),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, stdout_w, 1),
                (os.POSIX_SPAWN_DUP2, stderr_w, 2),
                (os.POSIX_SPAWN_DUP2, to_worker_r, 3),
                (os.POSIX_SPAWN_DUP2, from_worker_w, 4),
            ],
            # Python ignores SIGPIPE/SIGXFSZ and an ignored signal survives exec: give the worker defaults.
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
            setsigmask=(),
        )
    except BaseException:
        for fd in (*child_ends, to_worker_w, from_worker_r, stdout_r, stderr_r):
            os.close(fd)
        raise
    for fd in child_ends:
        os.close(fd)
    pidfd: int | None
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None  # kernels before 5.3: poll waitpid instead
    process = WorkerProcess(
        pid=pid, channel_read_fd=from_worker_r, channel_write_fd=to_worker_w, _pidfd=pidfd
    )
    return process, stdout_r, stderr_r

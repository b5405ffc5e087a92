"""Errors raised by the mediasoup library (mediasoup's own error classes, in Python)."""

from __future__ import annotations


class MediasoupError(Exception):
    """Base class of every error this library raises."""


class InvalidStateError(MediasoupError):
    """The object is closed, or the worker died (mediasoup's InvalidStateError)."""


class UnsupportedError(MediasoupError):
    """Parameters the router/worker cannot handle (mediasoup's UnsupportedError)."""


class WorkerRequestError(MediasoupError):
    """The worker rejected a request; `reason` is the worker's own text."""

    def __init__(self, method: str, reason: str, error_type: str = "Error") -> None:
        super().__init__(f"{method}: {error_type}: {reason}")
        self.method = method
        self.reason = reason
        self.error_type = error_type


class RequestTimeoutError(MediasoupError):
    """The worker did not answer a request in time."""


class WorkerSpawnError(MediasoupError):
    """The worker process could not be started, or exited before it was running."""


class WorkerDiedError(MediasoupError):
    """The worker process ended without being asked to: carried by the worker's `died` event."""

    def __init__(
        self, pid: int, exit_code: int | None, signal_number: int | None, signal_name: str | None
    ) -> None:
        how = f"killed by {signal_name}" if signal_number is not None else f"exit code {exit_code}"
        super().__init__(f"worker pid={pid} died ({how})")
        self.pid = pid
        self.exit_code = exit_code
        self.signal_number = signal_number
        self.signal_name = signal_name


class NotFoundError(MediasoupError, LookupError):
    """A referenced object (e.g. a Producer id) does not exist (mediasoup's NotFoundError)."""

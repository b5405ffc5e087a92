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

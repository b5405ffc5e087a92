"""Where the mediasoup-worker binary is: MEDIASOUP_WORKER_BIN, else the one the build step installed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import MediasoupError

WORKER_BIN_ENV = "MEDIASOUP_WORKER_BIN"  # same variable as mediasoup's Node library


class WorkerBinaryNotFoundError(MediasoupError):
    """No usable mediasoup-worker binary."""


def resolve_worker_binary(environ: Mapping[str, str] | None = None) -> Path:
    """The worker binary to spawn; raises WorkerBinaryNotFoundError saying what was tried."""
    env = os.environ if environ is None else environ
    from_env = env.get(WORKER_BIN_ENV)
    if from_env:
        path = Path(from_env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise WorkerBinaryNotFoundError(f"{WORKER_BIN_ENV}={from_env} is not an executable file")
        return path
    try:
        from FBS import _build
    except ImportError as error:
        raise WorkerBinaryNotFoundError(
            f"{WORKER_BIN_ENV} is not set and the mediasoup FlatBuffers bindings (package FBS) are not "
            "installed: run bin/setup"
        ) from error
    path = Path(_build.WORKER_BIN)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise WorkerBinaryNotFoundError(
            f"{WORKER_BIN_ENV} is not set and the built worker {path} is missing: run bin/setup"
        )
    return path


def mediasoup_version() -> str:
    """The mediasoup version the bindings were generated for (the worker insists on it)."""
    from FBS import _build

    return str(_build.MEDIASOUP_VERSION)

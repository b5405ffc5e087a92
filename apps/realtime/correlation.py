"""The correlation id of the event being handled, for every log line written on its behalf.

The dispatcher sets it before running a handler; tasks the handler starts inherit
it (contextvars). Every log record gets `record.correlation_id` ("-" outside an
event), so a formatter can print `%(correlation_id)s`.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

correlation_id_var: ContextVar[str | None] = ContextVar("flylive_correlation_id", default=None)


def current_correlation_id() -> str | None:
    return correlation_id_var.get()


_installed = False


def install_log_record_factory() -> None:
    """Give every log record a `correlation_id` attribute (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.correlation_id = correlation_id_var.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class CorrelationIdFilter(logging.Filter):
    """Handler filter for LOGGING: records made before the factory was installed get "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = correlation_id_var.get() or "-"
        return True

"""Celery app: periodic jobs (room auto-close sweep, gift buffer flush, cleanup).

Broker and result backend are the project's Redis. Job modules register
themselves through `autodiscover_tasks` (each domain app's `tasks.py`).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flylive.settings.dev")

app = Celery("flylive")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

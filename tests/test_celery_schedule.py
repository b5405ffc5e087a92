"""The Celery app bin/serve runs (`celery -A flylive`) discovers a task for every beat entry."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import repo_root
from tests.support.server import TEST_INTERNAL_KEY, TEST_JWT_SECRET

LIST_TASKS = """
import json
from django.conf import settings
from flylive.celery import app
app.loader.import_default_modules()
beat = settings.CELERY_BEAT_SCHEDULE
print(json.dumps({"tasks": sorted(app.tasks), "beat": {k: v["task"] for k, v in beat.items()},
                  "schedule": {k: v["schedule"] for k, v in beat.items()}}))
"""


def test_every_beat_entry_names_a_discovered_task_on_the_configured_period() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo_root()), "NODE_ENV": "test",
           "JWT_SECRET": TEST_JWT_SECRET, "LARAVEL_API_URL": "http://127.0.0.1:9",
           "LARAVEL_INTERNAL_KEY": TEST_INTERNAL_KEY, "ROOM_AUTO_CLOSE_POLL_INTERVAL_MS": "300",
           "MEDIA_LOST_ROOMS_POLL_INTERVAL_MS": "700", "DATABASE_URL": "sqlite:///:memory:"}
    result = subprocess.run([sys.executable, "-c", LIST_TASKS], cwd=repo_root() / "tests", env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for entry, task in found["beat"].items():
        assert task in found["tasks"], entry
    for task in ("rooms.auto_close_idle_rooms", "rooms.close_lost_media_rooms",
                 "realtime.sweep_dead_web_instances"):
        assert task in found["beat"].values()
    assert found["schedule"]["rooms.auto_close_idle_rooms"] == 0.3
    assert found["schedule"]["rooms.close_lost_media_rooms"] == 0.7

"""The demo page in a real browser: Debian's chromium (driven by playwright-core, fake microphone)
against the whole server (runmedia + uvicorn, real Redis, a staff database). Two pages join one
room; the first takes a seat and speaks; the second receives its audio (WebRTC inbound-rtp bytes)
and highlights it as the active speaker. Then the admin's live-rooms page shows the room.
Screenshots: var/screenshots/ (demo-speaker.png, demo-listener.png, admin-live-rooms.png,
admin-room.png)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.media.tests.media_node_process import media_env, run_media_node
from apps.staff.tests.staff_stack import STAFF_PASSWORD, run_staff_server, staff_env
from tests.support.processes import RedisServer, free_port, repo_root
from tests.support.server import make_token, user_claims

DB = 1
ROOM = "demo-browser"
SPEAKER, LISTENER = 501, 502
DRIVER = repo_root() / "tests" / "browser" / "demo_call.mjs"
SCREENSHOTS = repo_root() / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium (bin/setup installs it)"),
]


def test_two_pages_talk_through_the_demo_page(redis_server: RedisServer,
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    bundle = repo_root() / "static" / "demo" / "build" / "demo.js"
    assert bundle.exists(), "bin/setup builds the demo bundle"
    assert (DRIVER.parent / "node_modules" / "playwright-core").exists(), "bin/setup installs tests/browser"
    import redis as sync_redis

    sync_redis.Redis(host=redis_server.host, port=redis_server.port, db=DB).flushdb()
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    database = tmp_path_factory.mktemp("demo-db") / "db.sqlite3"
    env = media_env(staff_env(redis_server, database, REDIS_DB=str(DB), CORS_ORIGINS=origin,
                              LOG_LEVEL="warn"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    with run_media_node(env), run_staff_server(env, database, port=port) as staff:
        args = {
            "url": staff.url, "room": ROOM, "speakerId": SPEAKER, "out": str(SCREENSHOTS),
            "tokens": [make_token(user_claims(SPEAKER, name="Speaker Sam")),
                       make_token(user_claims(LISTENER, name="Listener Lea"))],
            "admin": {"user": "alice", "password": STAFF_PASSWORD},
        }
        done = subprocess.run(["node", str(DRIVER), json.dumps(args)], cwd=DRIVER.parent, capture_output=True,
                              text=True, timeout=150)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines, f"driver printed nothing:\n{done.stdout}\n{done.stderr}\n{staff.live.log_tail()}"
        result = json.loads(lines[-1])
        assert result["ok"], f"{result}\n{staff.live.log_tail()}"
    assert result["inboundAudio"][str(SPEAKER)] > 5000
    assert result["highlighted"] == [str(SPEAKER)]
    assert result["seatHighlighted"] == [str(SPEAKER)]
    room, participants = result["adminRow"][0], result["adminRow"][1]
    assert room == ROOM
    assert participants == "2"
    for name in ("demo-speaker.png", "demo-listener.png", "admin-live-rooms.png", "admin-room.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000

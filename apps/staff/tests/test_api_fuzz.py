"""Hypothesis fuzzing of the server's HTTP endpoints (the staff API, health and metrics, the
demo page) through the real web process: whatever a caller sends (any method, path room id,
query, JSON or not), the answer is a 2xx/4xx or the API's own 404/409/503 action answers with
a reason, never a 500, and the process keeps answering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apps.staff.tests.staff_stack import StaffServer, run_staff_server, staff_env
from tests.support.processes import RedisServer

DB = 15
ROOM_ACTIONS = ("close/", "seats/remove/", "seats/mute/", "seats/unmute/", "seats/lock/", "seats/unlock/")
PLAIN_PATHS = ("/api/rooms/", "/api/moderation-log/", "/api/gift-dead-letters/",
               "/api/gift-dead-letters/replay/", "/api/schema/", "/health", "/metrics",
               "/metrics/prometheus", "/demo/")

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
bodies = (st.fixed_dictionaries({}, optional={"userId": json_values, "seatIndex": json_values,
                                              "ids": json_values}).map(json.dumps)
          | json_values.map(json.dumps) | st.text(max_size=50) | st.just(""))
room_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True) | st.text(min_size=1, max_size=80)
paths = (st.tuples(room_ids, st.sampled_from(("", *ROOM_ACTIONS)))
         .map(lambda p: f"/api/rooms/{quote(p[0], safe='')}/{p[1]}")
         | st.integers(-(2**40), 2**40).map(lambda u: f"/api/users/{u}/disconnect/")
         | st.sampled_from(PLAIN_PATHS))
queries = st.dictionaries(st.sampled_from(["room", "action", "page", "ids", "format"]), st.text(max_size=20),
                          max_size=3)


@pytest.fixture(scope="module")
def staff(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffServer]:
    database: Path = tmp_path_factory.mktemp("fuzz-db") / "db.sqlite3"
    env = staff_env(redis_server, database, REDIS_DB=str(DB), LOG_LEVEL="warn")
    with run_staff_server(env, database) as server:
        yield server


@pytest.fixture(scope="module")
def api(staff: StaffServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=staff.url, headers={"Authorization": f"Token {staff.staff_token}"},
                      timeout=20) as client:
        yield client


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]), path=paths, query=queries, body=bodies,
       json_type=st.booleans())
@example(method="GET", path="/health", query={}, body="", json_type=False)  # degraded: no media node
def test_no_http_request_gets_a_server_error(api: httpx.Client, staff: StaffServer, method: str, path: str,
                                             query: dict[str, str], body: str, json_type: bool) -> None:
    headers = {"Content-Type": "application/json" if json_type else "text/plain"}
    response = api.request(method, path, params=query, content=body.encode(), headers=headers)
    assert response.status_code < 500 or response.status_code == 503, (method, path, response.text[:300])
    if response.status_code == 400:
        reasons: Any = response.json()  # field reasons, as JSON
        assert reasons
    if response.status_code == 503:  # a failed action says why in its log entry; /health: degraded
        expected = ("status", "degraded") if path == "/health" else ("outcome", "failed")
        assert response.json()[expected[0]] == expected[1], (method, path, response.text[:300])
    assert api.get("/health").status_code in (200, 503)
    assert staff.live.proc.poll() is None

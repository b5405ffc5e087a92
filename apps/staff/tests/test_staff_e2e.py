"""Staff actions end to end: the real web process (uvicorn) on real Redis with a staff database,
python-socketio clients in a room, and each action taken through the DRF API (token) and through
the admin (session login, CSRF, the room page's forms). Every action reaches the connected
clients with the socket events they know and lands in the moderation log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.staff.tests.staff_stack import STAFF_PASSWORD, StaffServer, run_staff_server, staff_env
from tests.support.processes import RedisServer, clean_redis_db
from tests.support.sio_client import RecordingClient

DB = 4
ROOM = "staff-room-1"
ADMIN_ROOM = "staff-room-2"


@pytest.fixture(scope="module")
def staff(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffServer]:
    database: Path = tmp_path_factory.mktemp("staff-db") / "db.sqlite3"
    env = staff_env(redis_server, database, REDIS_DB=str(DB))
    with run_staff_server(env, database) as server:
        yield server


@pytest.fixture
async def api(staff: StaffServer, redis_server: RedisServer) -> AsyncIterator[httpx.AsyncClient]:
    token = {"Authorization": f"Token {staff.staff_token}"}
    async with clean_redis_db(redis_server, DB), httpx.AsyncClient(base_url=staff.url, headers=token,
                                                                    timeout=10) as client:
        yield client


async def seated_room(staff: StaffServer, speaker_id: int, listener_id: int, room: str = ROOM
                      ) -> list[RecordingClient]:
    """Two users in the room, seated at 0 and 1; events so far forgotten."""
    clients = [await RecordingClient(user).connect(staff.url) for user in (speaker_id, listener_id)]
    for client in clients:
        assert "rtpCapabilities" in await client.call("room:join", {"roomId": room})
    for index, client in enumerate(clients):
        assert await client.call("seat:take", {"roomId": room, "seatIndex": index}) == {"success": True}
    await clients[0].wait_for("seat:updated")  # the other's seat
    for client in clients:
        client.clear()
    return clients


async def log_entries(api: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await api.get("/api/moderation-log/", params=params)
    assert response.status_code == 200
    return list(response.json()["results"])


async def test_api_actions_reach_clients_and_the_log(staff: StaffServer, api: httpx.AsyncClient) -> None:
    speaker, listener = await seated_room(staff, 101, 102)
    try:
        room = (await api.get(f"/api/rooms/{ROOM}/")).json()
        assert room["roomId"] == ROOM
        assert room["participantCount"] == 2
        assert room["seats"] == [{"seatIndex": 0, "userId": 101, "isMuted": False},
                                 {"seatIndex": 1, "userId": 102, "isMuted": False}]
        listing = (await api.get("/api/rooms/")).json()
        assert listing["count"] == 1
        assert [r["roomId"] for r in listing["rooms"]] == [ROOM]

        response = await api.post(f"/api/rooms/{ROOM}/seats/mute/", json={"userId": 101})
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "done"
        for client in (speaker, listener):
            assert await client.wait_for("seat:userMuted") == [{"userId": 101, "isMuted": True}]
        assert (await api.get(f"/api/rooms/{ROOM}/")).json()["seats"][0]["isMuted"] is True

        assert (await api.post(f"/api/rooms/{ROOM}/seats/unmute/", json={"userId": 101})).status_code == 200
        assert (await listener.wait_for("seat:userMuted", count=2))[1] == {"userId": 101, "isMuted": False}

        assert (await api.post(f"/api/rooms/{ROOM}/seats/lock/", json={"seatIndex": 5})).status_code == 200
        assert await listener.wait_for("seat:locked") == [{"seatIndex": 5, "isLocked": True}]
        assert (await api.get(f"/api/rooms/{ROOM}/")).json()["lockedSeats"] == [5]
        assert (await api.post(f"/api/rooms/{ROOM}/seats/unlock/", json={"seatIndex": 5})).status_code == 200
        assert (await listener.wait_for("seat:locked", count=2))[1] == {"seatIndex": 5, "isLocked": False}

        assert (await api.post(f"/api/rooms/{ROOM}/seats/remove/", json={"userId": 101})).status_code == 200
        for client in (speaker, listener):
            assert await client.wait_for("seat:cleared") == [{"seatIndex": 0}]
        refused = await api.post(f"/api/rooms/{ROOM}/seats/remove/", json={"userId": 101})
        assert refused.status_code == 409
        assert refused.json()["detail"] == "User is not seated"

        assert (await api.post("/api/users/102/disconnect/")).status_code == 200
        await speaker.wait_for("room:userLeft")
        assert speaker.received("room:userLeft") == [{"userId": 102}]
        assert not listener.sio.connected
        assert (await api.post("/api/users/102/disconnect/")).status_code == 404

        closed = await api.post(f"/api/rooms/{ROOM}/close/")
        assert closed.status_code == 200
        [event] = await speaker.wait_for("room:closed")
        assert event["roomId"] == ROOM
        assert event["reason"] == "closed_by_staff"
        assert (await api.get(f"/api/rooms/{ROOM}/")).status_code == 404
        assert (await api.post(f"/api/rooms/{ROOM}/close/")).status_code == 404

        entries = await log_entries(api, room=ROOM)
        assert [(e["action"], e["outcome"]) for e in reversed(entries)] == [
            ("seat_mute", "done"), ("seat_unmute", "done"), ("seat_lock", "done"), ("seat_unlock", "done"),
            ("seat_remove", "done"), ("seat_remove", "refused"), ("close_room", "done"),
            ("close_room", "refused")]
        assert all(e["actor_name"] == "alice" and e["via"] == "api" for e in entries)
        disconnects = await log_entries(api, action="disconnect_user")
        assert [(e["target_user_id"], e["outcome"]) for e in disconnects[:2]] == [("102", "refused"),
                                                                               ("102", "done")]
    finally:
        for client in (speaker, listener):
            await client.close()


async def admin_session(staff: StaffServer) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=staff.url, timeout=10, follow_redirects=True)
    page = await client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    done = await client.post("/admin/login/?next=/admin/", data={
        "csrfmiddlewaretoken": token.group(1), "username": "alice", "password": STAFF_PASSWORD})
    assert done.status_code == 200
    assert "Log out" in done.text, done.text[:500]
    return client


async def admin_action(client: httpx.AsyncClient, room: str, **fields: str | int) -> str:
    page = await client.get(f"/admin/staff/liveroom/{room}/")
    assert page.status_code == 200, page.text[:300]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    answer = await client.post(f"/admin/staff/liveroom/{room}/action/",
                               data={"csrfmiddlewaretoken": token.group(1),
                                     **{k: str(v) for k, v in fields.items()}})
    assert answer.status_code == 200
    return answer.text


async def test_admin_pages_and_actions(staff: StaffServer, api: httpx.AsyncClient) -> None:
    speaker, listener = await seated_room(staff, 201, 202, ADMIN_ROOM)
    admin = await admin_session(staff)
    try:
        listing = await admin.get("/admin/staff/liveroom/")
        assert listing.status_code == 200
        assert f'data-room="{ADMIN_ROOM}"' in listing.text
        page = await admin.get(f"/admin/staff/liveroom/{ADMIN_ROOM}/")
        assert "User 201" in page.text
        assert "Close room" in page.text

        assert "muted" in await admin_action(admin, ADMIN_ROOM, action="seat_mute", user_id=201)
        assert await listener.wait_for("seat:userMuted") == [{"userId": 201, "isMuted": True}]
        await admin_action(admin, ADMIN_ROOM, action="seat_unmute", user_id=201)
        assert (await listener.wait_for("seat:userMuted", count=2))[1] == {"userId": 201, "isMuted": False}
        await admin_action(admin, ADMIN_ROOM, action="seat_lock", seat_index=1)
        # Locking an occupied seat kicks its user (seat:cleared) before announcing the lock.
        assert await speaker.wait_for("seat:cleared") == [{"seatIndex": 1}]
        assert await speaker.wait_for("seat:locked") == [{"seatIndex": 1, "isLocked": True}]
        await admin_action(admin, ADMIN_ROOM, action="seat_unlock", seat_index=1)
        assert (await speaker.wait_for("seat:locked", count=2))[1] == {"seatIndex": 1, "isLocked": False}
        await admin_action(admin, ADMIN_ROOM, action="seat_remove", user_id=201)
        assert (await listener.wait_for("seat:cleared", count=2))[1] == {"seatIndex": 0}
        await admin_action(admin, ADMIN_ROOM, action="disconnect_user", user_id=202)
        await speaker.wait_for("room:userLeft")
        assert not listener.sio.connected
        refused = await admin_action(admin, ADMIN_ROOM, action="seat_lock")  # no seat index: not run
        assert "This action needs a seat index." in refused
        await admin_action(admin, ADMIN_ROOM, action="close_room")
        [event] = await speaker.wait_for("room:closed")
        assert event["reason"] == "closed_by_staff"

        log_page = await admin.get("/admin/staff/moderationlog/")
        assert log_page.status_code == 200
        assert "close room" in log_page.text
        entries = await log_entries(api, room=ADMIN_ROOM)
        assert [e["action"] for e in reversed(entries)] == [
            "seat_mute", "seat_unmute", "seat_lock", "seat_unlock", "seat_remove", "close_room"]
        assert all(e["via"] == "admin" and e["actor_name"] == "alice" and e["outcome"] == "done"
                   for e in entries)
        assert (await log_entries(api, action="disconnect_user"))[0]["target_user_id"] == "202"
        for path in ("/admin/rooms/roomsession/", "/admin/gifts/giftdeadletter/"):
            assert (await admin.get(path)).status_code == 200
    finally:
        await admin.aclose()
        for client in (speaker, listener):
            await client.close()


async def test_api_refuses_without_staff_rights(staff: StaffServer) -> None:
    async with httpx.AsyncClient(base_url=staff.url, timeout=10) as anonymous:
        response = await anonymous.get("/api/rooms/")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Token"
        plain = {"Authorization": f"Token {staff.plain_token}"}
        assert (await anonymous.post(f"/api/rooms/{ADMIN_ROOM}/close/", headers=plain)).status_code == 403
        bad = await anonymous.post(f"/api/rooms/{ADMIN_ROOM}/seats/lock/", json={"seatIndex": 99},
                                   headers={"Authorization": f"Token {staff.staff_token}"})
        assert bad.status_code == 400
        assert bad.json() == {"seatIndex": ["Ensure this value is less than or equal to 14."]}
        # The contract's endpoints stay open and byte-shaped.
        health = await anonymous.get("/health")
        assert health.headers["content-type"] == "application/json; charset=utf-8"
        degraded = b'{"status":"degraded","workers":{"active":0,"expected":0},"uptime":'
        assert health.content.startswith(degraded)
        # Django's own metrics (django-prometheus) beside the flylive_* series, counted for real.
        text = (await anonymous.get("/metrics/prometheus")).text
        assert 'django_http_responses_total_by_status_total{status="401"}' in text
        assert 'django_http_requests_total_by_method_total{method="POST"}' in text
        assert "flylive_mediasoup_transports_created_total" in text
        assert "flylive_gift_buffer_size 0.0" in text
        assert text.count("# TYPE process_cpu_seconds_total") == 1

"""The staff API's OpenAPI schema (drf-spectacular) is valid OpenAPI 3, lists every staff route
with its request bodies and answers, and leaves the contract's endpoints out; drf-spectacular
itself reports no warning or error about our views."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client
from openapi_spec_validator import validate

STAFF_PATHS = {
    "/api/rooms/": {"get"},
    "/api/rooms/{room_id}/": {"get"},
    "/api/rooms/{room_id}/close/": {"post"},
    "/api/rooms/{room_id}/seats/remove/": {"post"},
    "/api/rooms/{room_id}/seats/mute/": {"post"},
    "/api/rooms/{room_id}/seats/unmute/": {"post"},
    "/api/rooms/{room_id}/seats/lock/": {"post"},
    "/api/rooms/{room_id}/seats/unlock/": {"post"},
    "/api/users/{user_id}/disconnect/": {"post"},
    "/api/moderation-log/": {"get"},
    "/api/gift-dead-letters/": {"get"},
    "/api/gift-dead-letters/replay/": {"post"},
}


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_complete(client: Client) -> None:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    assert {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()} == STAFF_PATHS
    lock = schema["paths"]["/api/rooms/{room_id}/seats/lock/"]["post"]
    body = lock["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][body]["properties"]["seatIndex"] == {
        "type": "integer", "maximum": 14, "minimum": 0}
    assert set(lock["responses"]) == {"200", "404", "409", "503"}
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.django_db
def test_schema_generation_has_no_warnings(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path) + "/schema.yaml")
    assert "Warning" not in capsys.readouterr().err


@pytest.mark.django_db
def test_staff_api_needs_a_staff_user(client: Client, django_user_model: type) -> None:
    assert client.get("/api/rooms/").status_code == 401
    django_user_model.objects.create_user("carol", password="carol-password-0123")  # type: ignore[attr-defined]
    assert client.login(username="carol", password="carol-password-0123")
    assert client.get("/api/moderation-log/").status_code == 403


@pytest.mark.django_db
def test_bad_bodies_get_field_reasons(admin_client: Client) -> None:
    json_body = "application/json"
    response = admin_client.post("/api/rooms/r1/seats/mute/", {"userId": "x"}, content_type=json_body)
    assert response.status_code == 400
    assert response.json() == {"userId": ["A valid integer is required."]}
    response = admin_client.post("/api/rooms/r1/seats/remove/", {}, content_type=json_body)
    assert response.json() == {"userId": ["This field is required."]}
    response = admin_client.post("/api/gift-dead-letters/replay/", {"ids": []}, content_type=json_body)
    assert response.status_code == 400
    assert response.json() == {"ids": ["This list may not be empty."]}
    # A room id outside the one rule is no route at all (the contract's JSON 404).
    assert admin_client.get("/api/rooms/bad.id/").json()["statusCode"] == 404

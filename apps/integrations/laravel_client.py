"""HTTP client for Laravel's internal API (contract 8.1, 8.2).

URL = LARAVEL_API_URL + path, where every id in the path is percent-encoded as one
segment (`segment()`: the baseline concatenated ids raw, so a room id like
`1/../admin/...` reached other Laravel routes with the internal key); every
request carries the JSON headers and `X-Internal-Key`; one abort timeout of
LARAVEL_API_TIMEOUT_MS; no retries. Every call is counted in
`flylive_laravel_api_calls_total{endpoint,status}` and timed in
`flylive_laravel_api_latency_seconds{endpoint}`, where `endpoint` is the route
template (e.g. `POST /rooms/{roomId}/status`) and `status` the HTTP status code,
or `timeout` / `error` when no response came.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from flylive.config import AppConfig, get_config
from flylive.js_number import js_number
from flylive.metrics import LARAVEL_API_CALLS, LARAVEL_API_LATENCY

INTERNAL_PREFIX = "/api/v1/internal"

ROOM_STATUS = "POST /rooms/{roomId}/status"
ROOM_DETAILS = "GET /rooms/{roomId}"
MEMBER_ROLE = "GET /rooms/{roomId}/members/{userId}/role"
GIFTS_BATCH = "POST /gifts/batch"


class LaravelError(Exception):
    """A Laravel call failed: no response, or a status the caller does not accept."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def segment(value: str) -> str:
    """One URL path segment: everything but unreserved characters percent-encoded (`/`, `.`
    sequences stay inert, `?` and `#` cannot end the path)."""
    encoded = quote(value, safe="")
    # `.` is unreserved, so quote keeps it: a segment of only dots would still walk up.
    return encoded.replace(".", "%2E") if encoded.strip(".") == "" else encoded


def iso_now() -> str:
    """JavaScript's `new Date().toISOString()`: UTC, milliseconds, `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LaravelClient:
    def __init__(self, base_url: str, internal_key: str, *, timeout_ms: int,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url
        self.timeout_seconds = timeout_ms / 1000
        self._http = httpx.AsyncClient(
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "X-Internal-Key": internal_key},
            timeout=httpx.Timeout(self.timeout_seconds),
            transport=transport,
        )

    @classmethod
    def from_config(cls, config: AppConfig) -> LaravelClient:
        return cls(config.LARAVEL_API_URL, config.LARAVEL_INTERNAL_KEY,
                   timeout_ms=config.LARAVEL_API_TIMEOUT_MS)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, endpoint: str, method: str, path: str, body: Any = None) -> httpx.Response:
        """One call to `INTERNAL_PREFIX + path`, measured under `endpoint`; any status is returned."""
        started = time.perf_counter()
        status = "error"
        try:
            # One overall deadline like the baseline's AbortController, not per phase.
            async with asyncio.timeout(self.timeout_seconds):
                response = await self._http.request(
                    method, self.base_url + INTERNAL_PREFIX + path,
                    content=None if body is None else _dumps(body),
                )
            status = str(response.status_code)
            return response
        except (TimeoutError, httpx.TimeoutException):
            status = "timeout"
            raise LaravelError(f"{endpoint}: timed out after {self.timeout_seconds}s") from None
        except httpx.HTTPError as exc:
            raise LaravelError(f"{endpoint}: {exc.__class__.__name__}: {exc}") from exc
        finally:
            LARAVEL_API_CALLS.labels(endpoint=endpoint, status=status).inc()
            LARAVEL_API_LATENCY.labels(endpoint=endpoint).observe(time.perf_counter() - started)

    async def post_room_status(self, room_id: str, *, is_live: bool, participant_count: int,
                               ended_at: str | None = None) -> None:
        """`POST /rooms/{roomId}/status`; a non-2xx answer raises LaravelError (callers log it)."""
        body: dict[str, Any] = {"is_live": is_live, "participant_count": participant_count}
        if ended_at is not None:
            body["ended_at"] = ended_at
        response = await self.request(ROOM_STATUS, "POST", f"/rooms/{segment(room_id)}/status", body)
        _require_success(ROOM_STATUS, response)

    async def get_room(self, room_id: str) -> dict[str, Any]:
        """`GET /rooms/{roomId}`: the room as Laravel knows it (top-level `owner_id`)."""
        response = await self.request(ROOM_DETAILS, "GET", f"/rooms/{segment(room_id)}")
        _require_success(ROOM_DETAILS, response)
        return _json_object(ROOM_DETAILS, response)

    async def get_member_role(self, room_id: str, user_id: int | float) -> str | None:
        """`GET /rooms/{roomId}/members/{userId}/role`: the role, or None when not a member (404)."""
        path = f"/rooms/{segment(room_id)}/members/{segment(js_number(user_id))}/role"
        response = await self.request(MEMBER_ROLE, "GET", path)
        if response.status_code == 404:
            return None
        _require_success(MEMBER_ROLE, response)
        role = _json_object(MEMBER_ROLE, response).get("role")
        return role if isinstance(role, str) else None

    async def post_gift_batch(self, transactions: list[dict[str, Any]]) -> dict[str, Any]:
        """`POST /gifts/batch`: `{"processed_count", "failed": [...]}` on 2xx, else LaravelError."""
        response = await self.request(GIFTS_BATCH, "POST", "/gifts/batch", {"transactions": transactions})
        _require_success(GIFTS_BATCH, response)
        return _json_object(GIFTS_BATCH, response)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _require_success(endpoint: str, response: httpx.Response) -> None:
    if not response.is_success:
        raise LaravelError(f"{endpoint}: HTTP {response.status_code}", status=response.status_code)


def _json_object(endpoint: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise LaravelError(f"{endpoint}: response is not JSON", status=response.status_code) from None
    if not isinstance(body, dict):
        raise LaravelError(f"{endpoint}: response is not a JSON object", status=response.status_code)
    return body


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LaravelClient] = weakref.WeakKeyDictionary()


def laravel_client() -> LaravelClient:
    """The running loop's client, configured from the environment (AppConfig)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = LaravelClient.from_config(get_config())
    return client


def use_laravel_client(client: LaravelClient) -> None:
    """Make `client` the running loop's client (tests)."""
    _clients[asyncio.get_running_loop()] = client

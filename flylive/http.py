"""HTTP helpers shared by the project's JSON endpoints (contract section 9).

Bodies are encoded as the Node server's JSON.stringify does (compact), and a
route answers only its own method: like Fastify, anything else is its JSON 404.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

AsyncView = Callable[[HttpRequest], Coroutine[Any, Any, HttpResponse]]


def json_response(body: Any, *, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json; charset=utf-8")


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    """Fastify's default 404 body (CSRF-exempt: a POST to an unknown route is a 404, not a 403)."""
    message = f"Route {request.method}:{request.path} not found"
    return json_response({"message": message, "error": "Not Found", "statusCode": 404}, status=404)


def get_only(view: AsyncView) -> AsyncView:
    """GET (and HEAD) only; any other method gets the JSON 404 a Fastify GET route gives."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return not_found(request)
        return await view(request)

    return csrf_exempt(wrapper)

"""JSON responses encoded as the Node server's JSON.stringify does (compact, no spaces)."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse


def json_response(body: Any, *, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json; charset=utf-8")

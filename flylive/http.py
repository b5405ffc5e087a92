"""HTTP helpers shared by the project's JSON endpoints (contract section 9).

Bodies are encoded as the Node server's JSON.stringify does (compact), and a
route answers only its own method: like Fastify, anything else is its JSON 404.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, ClassVar

import orjson
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

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


class ContractJSONRenderer(BaseRenderer):
    """JSON as the Node server's JSON.stringify writes it (compact), `application/json; charset=utf-8`."""

    media_type = "application/json"
    format = "json"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: Mapping[str, Any] | None = None) -> bytes:
        return orjson.dumps(data)


class FirstRenderer(BaseContentNegotiation):
    """The contract's endpoints answer one format whatever the client accepts (never a 406)."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(self, request: Request, renderers: Iterable[BaseRenderer],
                        format_suffix: str | None = None) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class ContractEndpoint(APIView):
    """One of the contract's HTTP endpoints (section 9) as an async DRF view: no authentication,
    permission or throttle (so nothing in `initial` does I/O), its body rendered by
    ContractJSONRenderer, GET and HEAD only (anything else is Fastify's JSON 404), and left out of
    the staff API's OpenAPI schema. Subclasses define `async def get(self, request)`."""

    authentication_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    permission_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    throttle_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    renderer_classes: ClassVar[list[Any]] = [ContractJSONRenderer]  # type: ignore[misc]
    content_negotiation_class = FirstRenderer
    schema = None

    async def get(self, request: Request) -> HttpResponseBase:
        raise NotImplementedError

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        self.args, self.kwargs = args, kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request = drf_request
        self.headers = self.default_response_headers
        response: HttpResponseBase
        try:
            self.initial(drf_request, *args, **kwargs)
            if request.method in ("GET", "HEAD"):
                response = await self.get(drf_request)
            else:
                response = not_found(request)
        except Exception as exc:
            response = self.handle_exception(exc)
        # A Response (rendered here) or a ready HttpResponse: DRF's finalize_response takes both.
        self.response = self.finalize_response(drf_request, response, *args, **kwargs)  # type: ignore[arg-type]
        return self.response

"""The demo page (/demo/): a browser client of this server, built from socket.io-client and
mediasoup-client (static/demo/, bundled by bin/setup). For developers; it holds no secret: the
token is pasted in (`manage.py mint_dev_token`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    return render(request, "demo.html", {"server_url": request.build_absolute_uri("/").rstrip("/")})

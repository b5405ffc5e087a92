"""HTTP routes: each app's `urls.py` (health and metrics live in apps.rooms), the admin,
and a JSON 404 like Fastify's default for everything else (contract section 9)."""

from __future__ import annotations

from importlib.util import find_spec

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path

from flylive.http import not_found

APPS_WITH_URLS = ("apps.rooms", "apps.media", "apps.seats", "apps.chat", "apps.gifts", "apps.users",
                  "apps.integrations", "apps.staff")


urlpatterns: list[URLPattern | URLResolver] = [
    path("", include(f"{app}.urls")) for app in APPS_WITH_URLS if find_spec(f"{app}.urls") is not None
]
urlpatterns += [
    path("admin/", admin.site.urls),
    re_path(r"^", not_found),
]

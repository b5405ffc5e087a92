"""HTTP routes of the server's health and metrics (contract 9); included by flylive/urls.py."""

from __future__ import annotations

from django.urls import path

from apps.rooms import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    path("metrics/prometheus", views.metrics_prometheus, name="metrics-prometheus"),
]

"""HTTP routes of the server's health and metrics (contract 9); included by flylive/urls.py."""

from __future__ import annotations

from django.urls import path

from apps.rooms import views

urlpatterns = [
    path("health", views.Health.as_view(), name="health"),
    path("metrics", views.Metrics.as_view(), name="metrics"),
    path("metrics/prometheus", views.PrometheusMetrics.as_view(), name="metrics-prometheus"),
]

"""Staff API routes (/api/...), the OpenAPI schema, and the demo page (/demo/)."""

from __future__ import annotations

from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView

from apps.staff import api, views


class RoomIdConverter:
    """The one room id rule (docs/protocol.md): 1-64 of A-Z a-z 0-9 _ -."""

    regex = "[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RoomIdConverter, "room_id")

urlpatterns = [
    path("api/rooms/", api.LiveRoomListView.as_view(), name="api-rooms"),
    path("api/rooms/<room_id:room_id>/", api.LiveRoomView.as_view(), name="api-room"),
    path("api/rooms/<room_id:room_id>/close/", api.CloseRoomView.as_view(), name="api-room-close"),
    path("api/rooms/<room_id:room_id>/seats/remove/", api.RemoveFromSeatView.as_view(),
         name="api-seat-remove"),
    path("api/rooms/<room_id:room_id>/seats/mute/", api.MuteSeatView.as_view(), name="api-seat-mute"),
    path("api/rooms/<room_id:room_id>/seats/unmute/", api.UnmuteSeatView.as_view(), name="api-seat-unmute"),
    path("api/rooms/<room_id:room_id>/seats/lock/", api.LockSeatView.as_view(), name="api-seat-lock"),
    path("api/rooms/<room_id:room_id>/seats/unlock/", api.UnlockSeatView.as_view(), name="api-seat-unlock"),
    path("api/users/<int:user_id>/disconnect/", api.DisconnectUserView.as_view(), name="api-user-disconnect"),
    path("api/moderation-log/", api.ModerationLogView.as_view(), name="api-moderation-log"),
    path("api/gift-dead-letters/", api.DeadLetterListView.as_view(), name="api-dead-letters"),
    path("api/gift-dead-letters/replay/", api.DeadLetterReplayView.as_view(), name="api-dead-letters-replay"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("demo/", views.demo, name="demo"),
]

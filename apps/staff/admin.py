"""Staff pages in the Django admin: live rooms (from Redis and the media nodes), a room's page
with its actions, and the moderation log. Actions go through apps/staff/actions.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from apps.rooms.schemas import MAX_SEAT_COUNT
from apps.staff.actions import perform
from apps.staff.forms import RoomActionForm
from apps.staff.live_rooms import live_room, live_rooms
from apps.staff.models import LiveRoom, ModerationAction, ModerationLog, ModerationOutcome

if TYPE_CHECKING:
    _LogAdmin = admin.ModelAdmin[ModerationLog]
    _RoomAdmin = admin.ModelAdmin[LiveRoom]
else:  # generic only for the type checker
    _LogAdmin = _RoomAdmin = admin.ModelAdmin


def _is_staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


@admin.register(ModerationLog)
class ModerationLogAdmin(_LogAdmin):
    list_display = ("created_at", "actor_name", "via", "action", "room_id", "target_user_id", "seat_index",
                    "outcome", "detail")
    list_filter = ("action", "outcome", "via")
    search_fields = ("room_id", "target_user_id", "actor_name")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModerationLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModerationLog | None = None) -> bool:
        return False


@admin.register(LiveRoom)
class LiveRoomAdmin(_RoomAdmin):
    """No table behind it: the list and the detail page read live state (apps/staff/live_rooms.py)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: LiveRoom | None = None) -> bool:
        return _is_staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LiveRoom | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LiveRoom | None = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        site = self.admin_site
        return [
            path("", site.admin_view(self.live_rooms_view), name="staff_liveroom_changelist"),
            path("<str:room_id>/", site.admin_view(self.room_view), name="staff_liveroom_change"),
            path("<str:room_id>/action/", site.admin_view(require_POST(self.action_view)),
                 name="staff_liveroom_action"),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title,
                "has_view_permission": True, **extra}

    def live_rooms_view(self, request: HttpRequest) -> HttpResponse:
        total, rooms = async_to_sync(live_rooms)()
        recent = ModerationLog.objects.all()[:10]
        return TemplateResponse(request, "admin/staff/liveroom/live_rooms.html", self._context(
            request, "Live rooms", rooms=rooms, total=total, recent_actions=recent, form=RoomActionForm()))

    def room_view(self, request: HttpRequest, room_id: str) -> HttpResponse:
        room = async_to_sync(live_room)(room_id)
        if room is None:
            raise Http404(f"room {room_id} is not open")
        seated = {seat["seatIndex"]: seat for seat in room.seats}
        seats = [{"index": i, "seat": seated.get(i), "locked": i in room.locked_seats}
                 for i in range(MAX_SEAT_COUNT)]
        log = ModerationLog.objects.filter(room_id=room_id)[:20]
        return TemplateResponse(request, "admin/staff/liveroom/room.html", self._context(
            request, f"Room {room_id}", room=room, seat_rows=seats, log=log,
            actions=ModerationAction))

    def action_view(self, request: HttpRequest, room_id: str) -> HttpResponse:
        form = RoomActionForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                messages.error(request, f"{field}: {' '.join(str(e) for e in errors)}")
            return HttpResponseRedirect(reverse("admin:staff_liveroom_change", args=[room_id]))
        entry = perform(form.staff_action(room_id), actor=request.user, via="admin")
        level = messages.SUCCESS if entry.outcome == ModerationOutcome.DONE else messages.ERROR
        messages.add_message(request, level, f"{entry.get_action_display()}: {entry.detail}")
        if entry.action == ModerationAction.CLOSE_ROOM and entry.outcome == ModerationOutcome.DONE:
            return HttpResponseRedirect(reverse("admin:staff_liveroom_changelist"))
        return HttpResponseRedirect(reverse("admin:staff_liveroom_change", args=[room_id]))

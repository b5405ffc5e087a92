"""The admin's action form (the API has its serializers): which action, on whom."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.rooms.schemas import MAX_SEAT_COUNT
from apps.staff.actions import SEAT_ACTIONS, USER_SEAT_ACTIONS, StaffAction
from apps.staff.models import ModerationAction

ADMIN_ACTIONS = [(a.value, a.label) for a in ModerationAction if a != ModerationAction.GIFT_REPLAY]


class RoomActionForm(forms.Form):
    action = forms.ChoiceField(choices=ADMIN_ACTIONS)
    user_id = forms.IntegerField(required=False, min_value=1)
    seat_index = forms.IntegerField(required=False, min_value=0, max_value=MAX_SEAT_COUNT - 1)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        needs_user = action in USER_SEAT_ACTIONS or action == ModerationAction.DISCONNECT_USER
        if needs_user and data.get("user_id") is None:
            self.add_error("user_id", "This action needs a user id.")
        if action in SEAT_ACTIONS and data.get("seat_index") is None:
            self.add_error("seat_index", "This action needs a seat index.")
        return data

    def staff_action(self, room_id: str) -> StaffAction:
        data = self.cleaned_data
        action = ModerationAction(data["action"])
        return StaffAction(action, room_id="" if action == ModerationAction.DISCONNECT_USER else room_id,
                           user_id=data.get("user_id"), seat_index=data.get("seat_index"))

"""The staff API under /api/ (DRF): live rooms, a room, its moderation actions, the moderation log,
gift dead letters and their replay. Staff users only, by session (the admin's login) or token
(`manage.py drf_create_token <username>`; header `Authorization: Token <key>`): no credentials is
401, a user who is not staff 403; a bad body is 400 with the reasons per field. The schema is
OpenAPI 3 at /api/schema/.

Actions answer with the moderation log entry they wrote: 200 when done, 404 when the room (or the
user's connection) is not there, 409 when the domain refused (its text in `detail`), 503 when a
part of the server failed."""

from __future__ import annotations

from typing import Any, ClassVar

from asgiref.sync import async_to_sync
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.gifts.dead_letters import replay_dead_letters
from apps.gifts.models import GiftDeadLetter
from apps.realtime.redis_client import create_sync_redis
from apps.rooms.schemas import MAX_SEAT_COUNT
from apps.staff.actions import StaffAction, log_action, perform
from apps.staff.live_rooms import LIST_LIMIT, live_room, live_rooms
from apps.staff.models import ModerationAction, ModerationLog, ModerationOutcome
from flylive.config import get_config

NOT_THERE = ("Room not found", "User is not connected")


# -- shapes ------------------------------------------------------------------------------------------

class ParticipantSerializer(serializers.Serializer[Any]):
    userId = serializers.FloatField()
    name = serializers.CharField()
    sockets = serializers.IntegerField()


class SeatSerializer(serializers.Serializer[Any]):
    seatIndex = serializers.IntegerField()
    userId = serializers.FloatField()
    isMuted = serializers.BooleanField()


class ProducerSerializer(serializers.Serializer[Any]):
    producerId = serializers.CharField()
    userId = serializers.FloatField()


class RoomSpanSerializer(serializers.Serializer[Any]):
    """Another media node serving some of the room's listeners (a room across nodes)."""
    nodeId = serializers.CharField()
    listeners = serializers.IntegerField()
    producers = serializers.IntegerField()
    pipeLocal = serializers.CharField()
    pipeRemote = serializers.CharField()


class RoomMediaSerializer(serializers.Serializer[Any]):
    nodeId = serializers.CharField(allow_null=True)
    sourceWorkerPid = serializers.IntegerField(allow_null=True)
    workerPids = serializers.ListField(child=serializers.IntegerField())
    routers = serializers.IntegerField()
    transports = serializers.IntegerField()
    producers = serializers.IntegerField()
    consumers = serializers.IntegerField()
    listeners = serializers.IntegerField()
    spans = RoomSpanSerializer(many=True)


class LiveRoomSerializer(serializers.Serializer[Any]):
    roomId = serializers.CharField()
    participantCount = serializers.IntegerField()
    participants = ParticipantSerializer(many=True)
    seats = SeatSerializer(many=True)
    lockedSeats = serializers.ListField(child=serializers.IntegerField())
    producers = ProducerSerializer(many=True)
    createdAt = serializers.IntegerField(allow_null=True, help_text="ms since the epoch")
    lastActivityAt = serializers.IntegerField(allow_null=True, help_text="ms since the epoch")
    ageSeconds = serializers.FloatField(allow_null=True)
    activeNow = serializers.BooleanField(help_text="an event of a member within the inactivity timeout")
    media = RoomMediaSerializer(allow_null=True)


class LiveRoomListSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField(help_text="open rooms")
    rooms = LiveRoomSerializer(many=True, help_text=f"the {LIST_LIMIT} joined most recently")


class ModerationLogSerializer(serializers.ModelSerializer[ModerationLog]):
    class Meta:
        model = ModerationLog
        fields = ("id", "created_at", "actor_name", "via", "action", "room_id", "target_user_id",
                  "seat_index", "outcome", "detail")


class DeadLetterSerializer(serializers.ModelSerializer[GiftDeadLetter]):
    class Meta:
        model = GiftDeadLetter
        fields = ("id", "transaction_id", "transaction", "last_error", "attempts", "created_at", "updated_at")


class SeatUserInput(serializers.Serializer[Any]):
    userId = serializers.IntegerField(min_value=1)


class SeatIndexInput(serializers.Serializer[Any]):
    seatIndex = serializers.IntegerField(min_value=0, max_value=MAX_SEAT_COUNT - 1)


class ReplayInput(serializers.Serializer[Any]):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False,
                                allow_empty=False, help_text="rows to replay; all of them when absent")


class Pages(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


ReplayResult = inline_serializer("ReplayResult", {"queued": serializers.IntegerField()})


# -- rooms -------------------------------------------------------------------------------------------

class LiveRoomListView(APIView):
    @extend_schema(operation_id="live_rooms", responses=LiveRoomListSerializer)
    def get(self, request: Request) -> Response:
        total, rooms = async_to_sync(live_rooms)()
        return Response({"count": total, "rooms": [room.as_json() for room in rooms]})


class LiveRoomView(APIView):
    @extend_schema(operation_id="live_room", responses={200: LiveRoomSerializer, 404: None})
    def get(self, request: Request, room_id: str) -> Response:
        room = async_to_sync(live_room)(room_id)
        if room is None:
            return Response({"detail": "Room not found"}, status=status.HTTP_404_NOT_FOUND)
        return Response(room.as_json())


def _answer(entry: ModerationLog) -> Response:
    code: int
    if entry.outcome == ModerationOutcome.DONE:
        code = status.HTTP_200_OK
    elif entry.outcome == ModerationOutcome.FAILED:
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif entry.detail in NOT_THERE:
        code = status.HTTP_404_NOT_FOUND
    else:
        code = status.HTTP_409_CONFLICT
    return Response(ModerationLogSerializer(entry).data, status=code)


ACTION_RESPONSES = dict.fromkeys((200, 404, 409, 503), ModerationLogSerializer)


class CloseRoomView(APIView):
    @extend_schema(operation_id="close_room", request=None, responses=ACTION_RESPONSES)
    def post(self, request: Request, room_id: str) -> Response:
        return _answer(perform(StaffAction(ModerationAction.CLOSE_ROOM, room_id=room_id),
                               actor=request.user, via="api"))


class SeatUserActionView(APIView):
    action: ClassVar[ModerationAction]

    @extend_schema(request=SeatUserInput, responses=ACTION_RESPONSES)
    def post(self, request: Request, room_id: str) -> Response:
        body = SeatUserInput(data=request.data)
        body.is_valid(raise_exception=True)
        action = StaffAction(self.action, room_id=room_id, user_id=body.validated_data["userId"])
        return _answer(perform(action, actor=request.user, via="api"))


class SeatIndexActionView(APIView):
    action: ClassVar[ModerationAction]

    @extend_schema(request=SeatIndexInput, responses=ACTION_RESPONSES)
    def post(self, request: Request, room_id: str) -> Response:
        body = SeatIndexInput(data=request.data)
        body.is_valid(raise_exception=True)
        action = StaffAction(self.action, room_id=room_id, seat_index=body.validated_data["seatIndex"])
        return _answer(perform(action, actor=request.user, via="api"))


class RemoveFromSeatView(SeatUserActionView):
    action = ModerationAction.SEAT_REMOVE


class MuteSeatView(SeatUserActionView):
    action = ModerationAction.SEAT_MUTE


class UnmuteSeatView(SeatUserActionView):
    action = ModerationAction.SEAT_UNMUTE


class LockSeatView(SeatIndexActionView):
    action = ModerationAction.SEAT_LOCK


class UnlockSeatView(SeatIndexActionView):
    action = ModerationAction.SEAT_UNLOCK


class DisconnectUserView(APIView):
    @extend_schema(operation_id="disconnect_user", request=None, responses=ACTION_RESPONSES)
    def post(self, request: Request, user_id: int) -> Response:
        return _answer(perform(StaffAction(ModerationAction.DISCONNECT_USER, user_id=user_id),
                               actor=request.user, via="api"))


# -- the log and dead letters ----------------------------------------------------------------------

class ModerationLogView(generics.ListAPIView[ModerationLog]):
    serializer_class = ModerationLogSerializer
    pagination_class = Pages

    @extend_schema(parameters=[
        OpenApiParameter("room", str, description="only this room's entries"),
        OpenApiParameter("action", str, enum=[a.value for a in ModerationAction]),
    ])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ModerationLog]:
        rows = ModerationLog.objects.all()
        room = self.request.query_params.get("room")
        if room:
            rows = rows.filter(room_id=room)
        action = self.request.query_params.get("action")
        if action:
            rows = rows.filter(action=action)
        return rows


class DeadLetterListView(generics.ListAPIView[GiftDeadLetter]):
    serializer_class = DeadLetterSerializer
    pagination_class = Pages
    queryset = GiftDeadLetter.objects.all()


class DeadLetterReplayView(APIView):
    @extend_schema(operation_id="replay_dead_letters", request=ReplayInput, responses=ReplayResult)
    def post(self, request: Request) -> Response:
        body = ReplayInput(data=request.data)
        body.is_valid(raise_exception=True)
        ids = body.validated_data.get("ids")
        redis = create_sync_redis(get_config())
        try:
            queued = replay_dead_letters(redis, ids=ids)  # the same service as replay_gifts and the admin
        finally:
            redis.close()
        detail = f"{queued} gift transaction(s) queued again" + (f" (ids {ids})" if ids else "")
        log_action(ModerationAction.GIFT_REPLAY, actor=request.user, via="api",
                   outcome=ModerationOutcome.DONE, detail=detail)
        return Response({"queued": queued})

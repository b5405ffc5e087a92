"""The one room id rule (docs/protocol.md, "Room ids"): 1-64 characters of [A-Za-z0-9_-]."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from apps.media.schemas import ConsumerResume, TransportCreate
from apps.realtime.schema import Payload, RoomId, is_room_id
from apps.realtime.zod_errors import format_errors
from apps.rooms.schemas import RoomJoin, RoomLeave


class Ref(Payload):
    roomId: RoomId


ACCEPTED = ["42", "0", "9f1c2d3e-aaaa-4bbb-8ccc-0123456789ab", "room_1-A", "x" * 64]
REFUSED = ["", "x" * 65, "1/../../../admin/users/7/ban?", "..", ".", "a b", "a?b", "a#b", "a%2F",
           "room:1", "é", "😀", "42\n", "\u0000", 42, 4.2, None, True, ["42"], {"id": "42"}]


@pytest.mark.parametrize("room_id", ACCEPTED)
def test_numeric_strings_uuids_and_plain_tokens_are_room_ids(room_id: str) -> None:
    assert Ref.model_validate({"roomId": room_id}).roomId == room_id
    assert is_room_id(room_id)


@pytest.mark.parametrize("room_id", REFUSED)
def test_anything_else_is_refused(room_id: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Ref.model_validate({"roomId": room_id})
    tree = format_errors(caught.value)
    assert tree["roomId"]["_errors"], tree
    assert not is_room_id(room_id)


def test_zod_style_messages() -> None:
    def message(value: object) -> str:
        with pytest.raises(ValidationError) as caught:
            Ref.model_validate({"roomId": value})
        errors: list[str] = format_errors(caught.value)["roomId"]["_errors"]
        return errors[0]

    assert message(42) == "Expected string, received number"
    assert message("") == "String must contain at least 1 character(s)"
    assert message("x" * 65) == "String must contain at most 64 character(s)"
    assert message("a/b") == "Invalid"


@pytest.mark.parametrize("schema", [RoomJoin, RoomLeave, TransportCreate, ConsumerResume])
def test_every_payload_with_a_room_id_uses_the_rule(schema: type[Payload]) -> None:
    assert schema.model_fields["roomId"].metadata == Ref.model_fields["roomId"].metadata

"""Building blocks for event payload schemas, with zod's semantics (contract section 0).

    class SeatTake(Payload):                     # unknown keys dropped, like zod non-strict
        roomId: NonEmptyStr
        seatIndex: Annotated[JsInt, Field(ge=0, le=14)]

- `JsInt`: a JSON number with no fraction, as zod `.int()` (5.0 is 5); "5", 5.5 and true are refused.
- `JsNumber`: any finite JSON number (int or float), never a boolean or a string.
- `JsString`, `JsBool`: no coercion from other JSON types.
- `Uuid`: a string in 8-4-4-4-12 hex form (any version, any case), as zod's `.uuid()`.
- `RoomId`: 1-64 characters of `[A-Za-z0-9_-]` (numeric strings and UUIDs are what clients
  send); every payload field that carries a room id uses it (docs/protocol.md, "Room ids").
- `Annotated[str, Utf16Len(min_length, max_length)]`: a string whose length is
  counted in UTF-16 code units, as JavaScript's `.length` (an emoji counts 2);
  `NonEmptyStr` is `Utf16Len(min_length=1)`.
Error messages are zod's, so the `errors` tree of an `error` event reads the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, PlainValidator, StrictBool, StrictStr
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


class Payload(BaseModel):
    """Base of every client payload model: unknown keys are dropped, the model is read-only."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def received_type(value: Any) -> str:
    """The JSON type name zod reports as `received` ("string", "number", "array", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _js_number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "number_type", "Expected number, received {received}", {"received": received_type(value)}
        )
    # Python's json accepts NaN/Infinity; JavaScript's JSON.parse (the baseline) does not.
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise PydanticCustomError("number_type", "Expected number, received nan")
    return value


def _js_int(value: Any) -> int:
    number = _js_number(value)
    if isinstance(number, float):
        # In JavaScript 5.0 is the integer 5 (zod .int() accepts it); 5.5 is not.
        if not number.is_integer():
            raise PydanticCustomError("int_type", "Expected integer, received float")
        return int(number)
    return number


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def _uuid(value: Any) -> str:
    """zod `.uuid()`: 8-4-4-4-12 hex, any version, any case."""
    if not isinstance(value, str):
        raise PydanticCustomError(
            "string_type", "Expected string, received {received}", {"received": received_type(value)}
        )
    if not _UUID.match(value):
        raise PydanticCustomError("uuid", "Invalid uuid")
    return value


JsNumber = Annotated[int | float, PlainValidator(_js_number)]
Uuid = Annotated[str, PlainValidator(_uuid)]
JsInt = Annotated[int, PlainValidator(_js_int)]
JsString = StrictStr
JsBool = StrictBool


def utf16_length(text: str) -> int:
    """JavaScript's `text.length`."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True)
class Utf16Len:
    """Bounds on a JSON string's UTF-16 length (zod `z.string().min(a).max(b)`):

        content: Annotated[str, Utf16Len(1, 500)]
    """

    min_length: int | None = None
    max_length: int | None = None

    def validate(self, value: Any) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError(
                "string_type", "Expected string, received {received}", {"received": received_type(value)}
            )
        length = utf16_length(value)
        if self.min_length is not None and length < self.min_length:
            raise PydanticCustomError(
                "string_too_short",
                "String must contain at least {min_length} character(s)",
                {"min_length": self.min_length},
            )
        if self.max_length is not None and length > self.max_length:
            raise PydanticCustomError(
                "string_too_long",
                "String must contain at most {max_length} character(s)",
                {"max_length": self.max_length},
            )
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)


# A non-empty string.
NonEmptyStr = Annotated[str, Utf16Len(min_length=1)]

ROOM_ID_MAX_LENGTH = 64
_ROOM_ID = re.compile(r"[A-Za-z0-9_-]+")
_ROOM_ID_LENGTH = Utf16Len(min_length=1, max_length=ROOM_ID_MAX_LENGTH)


def is_room_id(value: object) -> bool:
    """The room id rule, for ids that arrive other than in a payload."""
    return isinstance(value, str) and 0 < len(value) <= ROOM_ID_MAX_LENGTH and bool(_ROOM_ID.fullmatch(value))


def _room_id(value: Any) -> str:
    """A room id is a path segment of Laravel URLs and a Redis key part: a plain token only."""
    text = _ROOM_ID_LENGTH.validate(value)
    if not _ROOM_ID.fullmatch(text):
        raise PydanticCustomError("invalid_string", "Invalid")  # zod's text for a failed .regex()
    return text


RoomId = Annotated[str, PlainValidator(_room_id)]

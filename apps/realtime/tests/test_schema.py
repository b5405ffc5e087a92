"""Payload building blocks behave like zod, and errors read like zod's format()."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from apps.realtime.schema import JsBool, JsInt, JsNumber, NonEmptyStr, Payload, Utf16Len, utf16_length
from apps.realtime.zod_errors import format_errors, root_type_error


class Sample(Payload):
    roomId: NonEmptyStr
    seatIndex: Annotated[JsInt, Field(ge=0, le=14)]
    content: Annotated[str, Utf16Len(1, 3)] = "a"
    amount: JsNumber = 0
    flag: JsBool = False


def errors_of(data: object) -> dict[str, object]:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(data)
    return format_errors(caught.value)


def test_unknown_keys_are_dropped() -> None:
    sample = Sample.model_validate({"roomId": "r", "seatIndex": 1, "extra": {"x": 1}})
    assert sample.model_dump() == {"roomId": "r", "seatIndex": 1, "content": "a", "amount": 0, "flag": False}


@pytest.mark.parametrize("value", ["5", 5.5, True, None, [5], float("nan")])
def test_int_fields_take_only_json_integers(value: object) -> None:
    tree = errors_of({"roomId": "r", "seatIndex": value})
    assert tree["_errors"] == []
    assert "seatIndex" in tree


def test_int_fields_take_integral_floats_as_javascript_does() -> None:
    # JSON 5.0 is the number 5 in JavaScript, which zod's .int() accepts.
    sample = Sample.model_validate({"roomId": "r", "seatIndex": 5.0})
    assert sample.seatIndex == 5
    assert type(sample.seatIndex) is int


@pytest.mark.parametrize("value", [True, "1", None, float("nan"), float("inf")])
def test_number_fields_refuse_booleans_and_strings(value: object) -> None:
    assert "amount" in errors_of({"roomId": "r", "seatIndex": 0, "amount": value})


def test_number_fields_keep_ints_as_ints() -> None:
    assert Sample.model_validate({"roomId": "r", "seatIndex": 0, "amount": 42}).amount.__class__ is int


def test_lengths_count_utf16_code_units() -> None:
    assert utf16_length("😀") == 2
    assert utf16_length("é") == 1
    Sample.model_validate({"roomId": "r", "seatIndex": 0, "content": "😀a"})
    tree = errors_of({"roomId": "r", "seatIndex": 0, "content": "😀😀"})
    assert tree["content"] == {"_errors": ["String must contain at most 3 character(s)"]}


def test_zod_formatted_tree() -> None:
    tree = errors_of({"roomId": "", "seatIndex": 15, "flag": "yes"})
    assert tree == {
        "_errors": [],
        "roomId": {"_errors": ["String must contain at least 1 character(s)"]},
        "seatIndex": {"_errors": ["Number must be less than or equal to 14"]},
        "flag": {"_errors": ["Expected boolean, received string"]},
    }


def test_missing_fields_are_required() -> None:
    assert errors_of({}) == {
        "_errors": [],
        "roomId": {"_errors": ["Required"]},
        "seatIndex": {"_errors": ["Required"]},
    }


def test_root_type_error() -> None:
    assert root_type_error("x") == {"_errors": ["Expected object, received string"]}
    assert root_type_error([1]) == {"_errors": ["Expected object, received array"]}
    assert root_type_error(None) == {"_errors": ["Expected object, received null"]}

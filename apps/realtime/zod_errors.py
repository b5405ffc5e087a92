"""Validation errors in the shape of zod's `error.format()` (what the baseline puts in
`error` events): `{"_errors": [], "content": {"_errors": ["Required"]}}`, nested per path."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from apps.realtime.schema import received_type

_EXPECTED = {
    "string_type": "string", "int_type": "number", "float_type": "number", "bool_type": "boolean",
    "dict_type": "object", "model_type": "object", "list_type": "array", "model_attributes_type": "object",
}


def _zod_message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "Required"
    if kind in _EXPECTED and "input" in error:
        return f"Expected {_EXPECTED[kind]}, received {received_type(error['input'])}"
    if kind == "greater_than":
        return f"Number must be greater than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"Number must be greater than or equal to {ctx.get('ge')}"
    if kind == "less_than":
        return f"Number must be less than {ctx.get('lt')}"
    if kind == "less_than_equal":
        return f"Number must be less than or equal to {ctx.get('le')}"
    if kind == "too_short":
        return f"Array must contain at least {ctx.get('min_length')} element(s)"
    if kind == "too_long":
        return f"Array must contain at most {ctx.get('max_length')} element(s)"
    if kind in ("uuid_parsing", "uuid_type", "uuid_version"):
        return "Invalid uuid"
    if kind == "literal_error":
        return f"Invalid enum value. Expected {ctx.get('expected')}, received '{error.get('input')}'"
    return error["msg"]


def format_errors(exc: ValidationError) -> dict[str, Any]:
    """The zod-formatted tree of a pydantic validation error."""
    tree: dict[str, Any] = {"_errors": []}
    for error in exc.errors(include_url=False):
        node = tree
        for part in error["loc"]:
            node = node.setdefault(str(part), {"_errors": []})
        node["_errors"].append(_zod_message(error))
    return tree


def root_type_error(value: Any) -> dict[str, Any]:
    """The tree for a payload that is not an object at all (zod: `Expected object, received ...`)."""
    return {"_errors": [f"Expected object, received {received_type(value)}"]}

"""Small helpers between FlatBuffers object-API values and plain Python values.

flatc's Python object API keeps strings as bytes and scalar vectors as numpy arrays;
everything the library hands out is plain `str`/`int`/`list`/`dict` instead.
"""

from __future__ import annotations

from typing import Any


def text(value: bytes | bytearray | str | None) -> str:
    """A FlatBuffers string as `str` ('' when absent)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", errors="replace")
    return value


def optional_text(value: bytes | str | None) -> str | None:
    return None if value is None else text(value)


def enum_names(enum_class: type) -> dict[int, str]:
    """{value: NAME} of a flatc enum class (a plain class of int constants)."""
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


def int_list(value: Any) -> list[int]:
    """A scalar vector (numpy array, list or None) as a list of ints."""
    if value is None:
        return []
    if hasattr(value, "tolist"):
        return [int(v) for v in value.tolist()]
    return [int(v) for v in value]


def text_list(value: list[bytes] | None) -> list[str]:
    return [text(v) for v in value or []]


def plain(value: Any) -> Any:
    """Recursively turn an object-API value into dicts/lists/str/numbers (keys stay camelCase)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return text(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {key: plain(v) for key, v in vars(value).items() if not key.startswith("_")}
    return value


def string_map(entries: list[Any] | None) -> dict[str, str]:
    """[FBS.Common.StringString / Uint32String] as a dict keyed by str(key)."""
    return {text(e.key) if not isinstance(e.key, int) else str(e.key): text(e.value) for e in entries or []}


def string_list_map(entries: list[Any] | None) -> dict[str, list[str]]:
    """[FBS.Common.StringStringArray] as {key: [values]}."""
    return {text(e.key): text_list(e.values) for e in entries or []}


MEDIA_KIND_NAMES: dict[int, str] = {0: "audio", 1: "video"}
_STATS_TYPES: dict[int, str] = {2: "inbound-rtp", 3: "outbound-rtp"}  # FBS.RtpStream.StatsData


def flatten_rtp_stream_stats(stat: dict[str, Any]) -> dict[str, Any]:
    """RtpStream stats come nested (data -> base -> data): flat, like mediasoup's Node library gives them."""
    flat: dict[str, Any] = {}
    stats_type = _STATS_TYPES.get(stat.get("dataType", 0))
    data = stat.get("data")
    while isinstance(data, dict):
        nested = data.get("base")
        flat.update({k: v for k, v in data.items() if k != "base"})
        data = nested.get("data") if isinstance(nested, dict) else None
    if isinstance(flat.get("kind"), int):
        flat["kind"] = MEDIA_KIND_NAMES.get(flat["kind"], flat["kind"])
    if stats_type is not None:
        flat["type"] = stats_type
    return flat

"""RTP capability and parameter negotiation on the control side (mediasoup's node/src/ortc.ts).

Validators take raw client JSON (`object`), normalise it in place to the shapes in `rtp_types` (defaults
filled in, None optional fields and unknown keys removed) and raise `TypeError` when it is malformed. The
negotiation functions validate what they are given the same way, so arbitrary input only ever raises
TypeError or UnsupportedError.

Deliberately stricter than mediasoup's Node code: numbers must be integers in the range the worker's
FlatBuffers field holds, and a present field of the wrong type is an error instead of being replaced by
its default.
"""

from __future__ import annotations

import copy
import math
import re
import secrets
from typing import Any, Final, NamedTuple, TypeGuard, cast

from apps.media.mediasoup.errors import UnsupportedError
from apps.media.mediasoup.rtp_types import (
    MediaKind,
    Parameters,
    RtcpParameters,
    RtpCapabilities,
    RtpCodecCapability,
    RtpCodecParameters,
    RtpEncodingParameters,
    RtpHeaderExtensionParameters,
    RtpMapping,
    RtpMappingCodec,
    RtpMappingEncoding,
    RtpParameters,
)
from apps.media.mediasoup.supported_rtp_capabilities import (
    ABS_CAPTURE_TIME_URI,
    ABS_SEND_TIME_URI,
    DEPENDENCY_DESCRIPTOR_URI,
    MID_URI,
    SUPPORTED_RTP_CAPABILITIES,
    TRANSPORT_WIDE_CC_URI,
)

__all__ = [
    "can_consume",
    "generate_random_number",
    "generate_router_rtp_capabilities",
    "get_consumable_rtp_parameters",
    "get_consumer_rtp_parameters",
    "get_pipe_consumer_rtp_parameters",
    "get_producer_rtp_parameters_mapping",
    "is_rtx_codec",
    "match_codecs",
    "parse_rtp_capabilities",
    "parse_rtp_parameters",
    "validate_rtcp_feedback",
    "validate_rtcp_parameters",
    "validate_rtp_capabilities",
    "validate_rtp_codec_capability",
    "validate_rtp_codec_parameters",
    "validate_rtp_encoding_parameters",
    "validate_rtp_header_extension",
    "validate_rtp_header_extension_parameters",
    "validate_rtp_parameters",
    "validate_sctp_stream_parameters",
]

# Dynamic payload types in the order mediasoup hands them out.
_DYNAMIC_PAYLOAD_TYPES: Final[tuple[int, ...]] = (*range(100, 128), *range(96, 100))

_UINT8_MAX: Final = 0xFF
_UINT16_MAX: Final = 0xFFFF
_UINT32_MAX: Final = 0xFFFF_FFFF
_UINT64_MAX: Final = 0xFFFF_FFFF_FFFF_FFFF
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_PAYLOAD_TYPE_MAX: Final = 127

# re.ASCII: with IGNORECASE alone, dotless i (U+0131) matches "i", giving a kind neither audio nor video.
_MIME_TYPE_RE: Final = re.compile(r"(audio|video)/(.+)", re.IGNORECASE | re.ASCII)
_RTX_MIME_TYPE_RE: Final = re.compile(r".+/rtx", re.IGNORECASE | re.ASCII)
_SCALABILITY_MODE_RE: Final = re.compile(r"[LS]([1-9][0-9]?)T([1-9][0-9]?)(_KEY)?")
_HEADER_EXTENSION_DIRECTIONS: Final = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})

_SSRC_MIN: Final = 100_000_000
_SSRC_MAX_EXCLUSIVE: Final = 999_999_999


def generate_random_number() -> int:
    """A random SSRC-like number in [100000000, 999999999), as mediasoup's utils.generateRandomNumber."""
    return _SSRC_MIN + secrets.randbelow(_SSRC_MAX_EXCLUSIVE - _SSRC_MIN)


# ---------------------------------------------------------------------------------------------------------
# Primitive checks
# ---------------------------------------------------------------------------------------------------------


def _short(value: object) -> str:
    """A short rendering of a client value for error messages, safe whatever the client sends."""
    if _is_int(value) and abs(value) > _UINT64_MAX:
        return "<large int>"  # str() of a huge int raises ValueError
    if value is None or isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else f"{text[:57]}..."
    return f"<{type(value).__name__}>"  # never repr containers: they may be huge or deeply nested


_MAX_INPUT_DEPTH: Final = 32


def _copy_input(value: object, depth: int = 0) -> Any:
    """Deep copy of JSON-like input; copy.deepcopy would hit RecursionError on absurdly nested input."""
    if depth > _MAX_INPUT_DEPTH:
        raise TypeError("input is nested too deeply")
    if isinstance(value, dict):
        return {key: _copy_input(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_input(item, depth + 1) for item in value]
    return value


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_object(value: object, what: str, known_keys: frozenset[str] | None = None) -> dict[str, Any]:
    """`value` as a dict; with `known_keys`, other keys are removed from it."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not an object")
    if known_keys is not None:
        for key in [key for key in value if key not in known_keys]:
            del value[key]
    return cast(dict[str, Any], value)


def _require_int(value: object, what: str, minimum: int, maximum: int) -> int:
    if not _is_int(value):
        raise TypeError(f"missing or invalid {what}: {_short(value)}")
    if not minimum <= value <= maximum:
        raise TypeError(f"{what} out of range [{minimum}, {maximum}]: {_short(value)}")
    return value


def _require_non_empty_string(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"missing or invalid {what}: {_short(value)}")
    return value


def _optional_string(obj: dict[str, Any], key: str, what: str) -> None:
    """An optional string field: None means absent."""
    value = obj.get(key)
    if value is None:
        obj.pop(key, None)
    elif not isinstance(value, str):
        raise TypeError(f"invalid {what}: {_short(value)}")


def _optional_int(obj: dict[str, Any], key: str, what: str, minimum: int, maximum: int) -> None:
    """An optional integer field: None means absent."""
    if obj.get(key) is None:
        obj.pop(key, None)
    else:
        _require_int(obj[key], what, minimum, maximum)


def _bool_with_default(obj: dict[str, Any], key: str, what: str, default: bool) -> None:
    value = obj.get(key)
    if value is None:
        obj[key] = default
    elif not isinstance(value, bool):
        raise TypeError(f"invalid {what}: {_short(value)}")


def _list_with_default(obj: dict[str, Any], key: str, what: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        obj[key] = []
        return []
    if not isinstance(value, list):
        raise TypeError(f"{what} is not an array")
    return value


def _is_parameter_value(value: object) -> bool:
    # The worker's FlatBuffers parameters hold strings, int32 integers and doubles.
    if isinstance(value, str):
        return True
    if _is_int(value):
        return _INT32_MIN <= value <= _INT32_MAX
    return isinstance(value, float) and math.isfinite(value)


def _normalise_parameters(obj: dict[str, Any], what: str) -> dict[str, Any]:
    """`parameters` is optional (defaults to {}); keys are strings, values strings or numbers."""
    parameters = obj.get("parameters")
    if parameters is None:
        parameters = obj["parameters"] = {}
    elif not isinstance(parameters, dict):
        raise TypeError(f"{what}.parameters is not an object")
    for key, value in parameters.items():
        if not isinstance(key, str):
            raise TypeError(f"invalid {what} parameter key: {_short(key)}")
        if not _is_parameter_value(value):
            raise TypeError(f"invalid {what} parameter [key:{_short(key)}, value:{_short(value)}]")
    return cast(dict[str, Any], parameters)


# ---------------------------------------------------------------------------------------------------------
# Validation and normalisation
# ---------------------------------------------------------------------------------------------------------

_CAPABILITIES_KEYS: Final = frozenset({"codecs", "headerExtensions"})
_CODEC_CAPABILITY_KEYS: Final = frozenset(
    {"kind", "mimeType", "preferredPayloadType", "clockRate", "channels", "parameters", "rtcpFeedback"}
)
_CODEC_PARAMETERS_KEYS: Final = frozenset(
    {"mimeType", "payloadType", "clockRate", "channels", "parameters", "rtcpFeedback"}
)
_RTCP_FEEDBACK_KEYS: Final = frozenset({"type", "parameter"})
_HEADER_EXTENSION_KEYS: Final = frozenset({"kind", "uri", "preferredId", "preferredEncrypt", "direction"})
_RTP_PARAMETERS_KEYS: Final = frozenset({"mid", "codecs", "headerExtensions", "encodings", "rtcp", "msid"})
_HEADER_EXTENSION_PARAMETERS_KEYS: Final = frozenset({"uri", "id", "encrypt", "parameters"})
_ENCODING_KEYS: Final = frozenset(
    {"ssrc", "rid", "codecPayloadType", "rtx", "dtx", "scalabilityMode", "maxBitrate"}
)
_RTX_KEYS: Final = frozenset({"ssrc"})
_RTCP_PARAMETERS_KEYS: Final = frozenset({"cname", "reducedSize"})
_SCTP_STREAM_PARAMETERS_KEYS: Final = frozenset(
    {"streamId", "ordered", "maxPacketLifeTime", "maxRetransmits"}
)


def validate_rtp_capabilities(caps: object) -> None:
    """Validate RtpCapabilities in place: `codecs` and `headerExtensions` default to []."""
    caps_dict = _require_object(caps, "caps", _CAPABILITIES_KEYS)
    for codec in _list_with_default(caps_dict, "codecs", "caps.codecs"):
        validate_rtp_codec_capability(codec)
    for ext in _list_with_default(caps_dict, "headerExtensions", "caps.headerExtensions"):
        validate_rtp_header_extension(ext)


def validate_rtp_codec_capability(codec: object) -> None:
    """Validate an RtpCodecCapability in place; `kind` is overwritten with the mimeType's media type."""
    codec_dict = _require_object(codec, "codec", _CODEC_CAPABILITY_KEYS)
    kind = _validate_codec_common(codec_dict)
    codec_dict["kind"] = kind
    # preferredPayloadType is optional in a Router's media codecs.
    _optional_int(codec_dict, "preferredPayloadType", "codec.preferredPayloadType", 0, _PAYLOAD_TYPE_MAX)


def validate_rtp_codec_parameters(codec: object) -> None:
    """Validate RtpCodecParameters in place."""
    codec_dict = _require_object(codec, "codec", _CODEC_PARAMETERS_KEYS)
    _validate_codec_common(codec_dict)
    _require_int(codec_dict.get("payloadType"), "codec.payloadType", 0, _PAYLOAD_TYPE_MAX)


def _validate_codec_common(codec: dict[str, Any]) -> MediaKind:
    """The checks RtpCodecCapability and RtpCodecParameters share; returns the mimeType's media kind."""
    mime_type = _require_non_empty_string(codec.get("mimeType"), "codec.mimeType")
    match = _MIME_TYPE_RE.match(mime_type)
    if match is None:
        raise TypeError(f"invalid codec.mimeType: {_short(mime_type)}")
    kind: MediaKind = "audio" if match.group(1).lower() == "audio" else "video"
    _require_int(codec.get("clockRate"), "codec.clockRate", 1, _UINT32_MAX)
    # channels is meaningful (and defaults to 1) for audio only.
    if kind == "audio":
        if codec.get("channels") is None:
            codec["channels"] = 1
        else:
            _require_int(codec["channels"], "codec.channels", 1, _UINT8_MAX)
    else:
        codec.pop("channels", None)
    parameters = _normalise_parameters(codec, "codec")
    if "apt" in parameters:
        _require_int(parameters["apt"], "codec apt parameter", 0, _PAYLOAD_TYPE_MAX)
    for fb in _list_with_default(codec, "rtcpFeedback", "codec.rtcpFeedback"):
        validate_rtcp_feedback(fb)
    return kind


def validate_rtcp_feedback(fb: object) -> None:
    """Validate an RtcpFeedback in place: `parameter` defaults to ""."""
    fb_dict = _require_object(fb, "fb", _RTCP_FEEDBACK_KEYS)
    _require_non_empty_string(fb_dict.get("type"), "fb.type")
    if fb_dict.get("parameter") is None:
        fb_dict["parameter"] = ""
    elif not isinstance(fb_dict["parameter"], str):
        raise TypeError(f"invalid fb.parameter: {_short(fb_dict['parameter'])}")


def validate_rtp_header_extension(ext: object) -> None:
    """Validate an RtpHeaderExtension (capability) in place: preferredEncrypt False, direction sendrecv."""
    ext_dict = _require_object(ext, "ext", _HEADER_EXTENSION_KEYS)
    if ext_dict.get("kind") not in ("audio", "video"):
        raise TypeError(f"invalid ext.kind: {_short(ext_dict.get('kind'))}")
    _require_non_empty_string(ext_dict.get("uri"), "ext.uri")
    _require_int(ext_dict.get("preferredId"), "ext.preferredId", 1, _UINT8_MAX)
    _bool_with_default(ext_dict, "preferredEncrypt", "ext.preferredEncrypt", False)
    direction = ext_dict.get("direction")
    if direction is None:
        ext_dict["direction"] = "sendrecv"
    elif not isinstance(direction, str) or direction not in _HEADER_EXTENSION_DIRECTIONS:
        raise TypeError(f"invalid ext.direction: {_short(direction)}")


def validate_rtp_parameters(params: object) -> None:
    """Validate RtpParameters in place: headerExtensions/encodings default to [], rtcp to {}."""
    params_dict = _require_object(params, "params", _RTP_PARAMETERS_KEYS)
    _optional_string(params_dict, "mid", "params.mid")
    codecs = params_dict.get("codecs")
    if not isinstance(codecs, list):
        raise TypeError("missing params.codecs")
    for codec in codecs:
        validate_rtp_codec_parameters(codec)
    for ext in _list_with_default(params_dict, "headerExtensions", "params.headerExtensions"):
        validate_rtp_header_extension_parameters(ext)
    for encoding in _list_with_default(params_dict, "encodings", "params.encodings"):
        validate_rtp_encoding_parameters(encoding)
    if params_dict.get("rtcp") is None:
        params_dict["rtcp"] = {}
    validate_rtcp_parameters(params_dict["rtcp"])
    _optional_string(params_dict, "msid", "params.msid")


def validate_rtp_header_extension_parameters(ext: object) -> None:
    """Validate RtpHeaderExtensionParameters in place: encrypt defaults to False, parameters to {}."""
    ext_dict = _require_object(ext, "ext", _HEADER_EXTENSION_PARAMETERS_KEYS)
    _require_non_empty_string(ext_dict.get("uri"), "ext.uri")
    _require_int(ext_dict.get("id"), "ext.id", 1, _UINT8_MAX)
    _bool_with_default(ext_dict, "encrypt", "ext.encrypt", False)
    _normalise_parameters(ext_dict, "header extension")


def validate_rtp_encoding_parameters(encoding: object) -> None:
    """Validate RtpEncodingParameters in place: dtx defaults to False; None optional fields are dropped."""
    enc = _require_object(encoding, "encoding", _ENCODING_KEYS)
    _optional_int(enc, "ssrc", "encoding.ssrc", 0, _UINT32_MAX)
    _optional_string(enc, "rid", "encoding.rid")
    _optional_int(enc, "codecPayloadType", "encoding.codecPayloadType", 0, _PAYLOAD_TYPE_MAX)
    rtx = enc.get("rtx")
    if rtx is None:
        enc.pop("rtx", None)
    else:
        rtx_dict = _require_object(rtx, "encoding.rtx", _RTX_KEYS)
        _require_int(rtx_dict.get("ssrc"), "encoding.rtx.ssrc", 0, _UINT32_MAX)
    _bool_with_default(enc, "dtx", "encoding.dtx", False)
    _optional_string(enc, "scalabilityMode", "encoding.scalabilityMode")
    _optional_int(enc, "maxBitrate", "encoding.maxBitrate", 0, _UINT64_MAX)


def validate_rtcp_parameters(rtcp: object) -> None:
    """Validate RtcpParameters in place."""
    rtcp_dict = _require_object(rtcp, "rtcp", _RTCP_PARAMETERS_KEYS)
    _optional_string(rtcp_dict, "cname", "rtcp.cname")
    reduced_size = rtcp_dict.get("reducedSize")
    if reduced_size is not None and not isinstance(reduced_size, bool):
        raise TypeError(f"invalid rtcp.reducedSize: {_short(reduced_size)}")
    # mediasoup always uses reduced-size RTCP: it turns a missing or false reducedSize into true.
    rtcp_dict["reducedSize"] = True


def validate_sctp_stream_parameters(params: object) -> None:
    """Validate SctpStreamParameters in place; `ordered` defaults to true unless partially reliable."""
    params_dict = _require_object(params, "params", _SCTP_STREAM_PARAMETERS_KEYS)
    _require_int(params_dict.get("streamId"), "params.streamId", 0, _UINT16_MAX)
    ordered = params_dict.get("ordered")
    if ordered is not None and not isinstance(ordered, bool):
        raise TypeError(f"invalid params.ordered: {_short(ordered)}")
    _optional_int(params_dict, "maxPacketLifeTime", "params.maxPacketLifeTime", 0, _UINT16_MAX)
    _optional_int(params_dict, "maxRetransmits", "params.maxRetransmits", 0, _UINT16_MAX)
    # As in mediasoup, a 0 lifetime/retransmits value counts as "not set".
    partially_reliable = bool(params_dict.get("maxPacketLifeTime") or params_dict.get("maxRetransmits"))
    if params_dict.get("maxPacketLifeTime") and params_dict.get("maxRetransmits"):
        raise TypeError("cannot provide both maxPacketLifeTime and maxRetransmits")
    if ordered is None:
        params_dict["ordered"] = not partially_reliable
    elif ordered and partially_reliable:
        raise TypeError("cannot be ordered with maxPacketLifeTime or maxRetransmits")


def parse_rtp_parameters(data: object) -> RtpParameters:
    """A validated, normalised deep copy of client-supplied RtpParameters."""
    params = _copy_input(data)
    validate_rtp_parameters(params)
    return cast(RtpParameters, params)


def parse_rtp_capabilities(data: object) -> RtpCapabilities:
    """A validated, normalised deep copy of client-supplied RtpCapabilities."""
    caps = _copy_input(data)
    validate_rtp_capabilities(caps)
    return cast(RtpCapabilities, caps)


# ---------------------------------------------------------------------------------------------------------
# Codec matching
# ---------------------------------------------------------------------------------------------------------

AnyCodec = RtpCodecCapability | RtpCodecParameters


def is_rtx_codec(codec: AnyCodec) -> bool:
    return _RTX_MIME_TYPE_RE.fullmatch(codec["mimeType"]) is not None


def match_codecs(a_codec: AnyCodec, b_codec: AnyCodec, *, strict: bool = False, modify: bool = False) -> bool:
    """Whether two (normalised) codecs are the same codec.

    `strict` also compares H264 packetization-mode and profile and VP9 profile-id. With `modify`, a
    strict H264 match rewrites `a_codec`'s profile-level-id to the one an SDP answer would use.
    """
    a_mime_type = a_codec["mimeType"].lower()
    if a_mime_type != b_codec["mimeType"].lower():
        return False
    if a_codec["clockRate"] != b_codec["clockRate"]:
        return False
    if a_codec.get("channels") != b_codec.get("channels"):
        return False
    a_params: Parameters = a_codec.get("parameters", {})
    b_params: Parameters = b_codec.get("parameters", {})
    if a_mime_type == "audio/multiopus":
        return a_params.get("num_streams") == b_params.get("num_streams") and a_params.get(
            "coupled_streams"
        ) == b_params.get("coupled_streams")
    if a_mime_type == "video/h264" and strict:
        return _match_h264(a_codec, a_params, b_params, modify=modify)
    if a_mime_type == "video/vp9" and strict:
        return (a_params.get("profile-id") or 0) == (b_params.get("profile-id") or 0)
    return True


def _match_h264(a_codec: AnyCodec, a_params: Parameters, b_params: Parameters, *, modify: bool) -> bool:
    if (a_params.get("packetization-mode") or 0) != (b_params.get("packetization-mode") or 0):
        return False
    if not _is_same_h264_profile(a_params, b_params):
        return False
    try:
        answer_profile_level_id = _h264_profile_level_id_for_answer(a_params, b_params)
    except ValueError:
        return False
    if modify:
        parameters = a_codec.setdefault("parameters", {})
        if answer_profile_level_id:
            parameters["profile-level-id"] = answer_profile_level_id
        else:
            parameters.pop("profile-level-id", None)
    return True


# --- H264 profile-level-id (RFC 6184 section 8.1, as libwebrtc and the h264-profile-level-id package) ---

_H264_CONSTRAINED_BASELINE: Final = 1
_H264_BASELINE: Final = 2
_H264_MAIN: Final = 3
_H264_CONSTRAINED_HIGH: Final = 4
_H264_HIGH: Final = 5
_H264_PREDICTIVE_HIGH_444: Final = 6

_H264_LEVEL_1_B: Final = 0  # the only level not equal to ten times its number
_H264_LEVEL_1: Final = 10
_H264_LEVEL_1_1: Final = 11
_H264_LEVELS: Final = frozenset({10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52})
_H264_CONSTRAINT_SET3_FLAG: Final = 0x10

# (profile_idc, profile_iop bit pattern where x is "any", profile); the first match wins.
_H264_PROFILE_PATTERNS: Final = (
    (0x42, "x1xx0000", _H264_CONSTRAINED_BASELINE),
    (0x4D, "1xxx0000", _H264_CONSTRAINED_BASELINE),
    (0x58, "11xx0000", _H264_CONSTRAINED_BASELINE),
    (0x42, "x0xx0000", _H264_BASELINE),
    (0x58, "10xx0000", _H264_BASELINE),
    (0x4D, "0x0x0000", _H264_MAIN),
    (0x64, "00000000", _H264_HIGH),
    (0x64, "00001100", _H264_CONSTRAINED_HIGH),
    (0xF4, "00000000", _H264_PREDICTIVE_HIGH_444),
)

_H264_PROFILE_IDC_IOP: Final = {
    _H264_CONSTRAINED_BASELINE: "42e0",
    _H264_BASELINE: "4200",
    _H264_MAIN: "4d00",
    _H264_CONSTRAINED_HIGH: "640c",
    _H264_HIGH: "6400",
    _H264_PREDICTIVE_HIGH_444: "f400",
}
_H264_LEVEL_1_B_STRINGS: Final = {
    _H264_CONSTRAINED_BASELINE: "42f00b",
    _H264_BASELINE: "42100b",
    _H264_MAIN: "4d100b",
}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


class _H264ProfileLevel(NamedTuple):
    profile: int
    level: int


# Without profile-level-id, libwebrtc assumes Constrained Baseline 3.1 (not the spec's Baseline 1).
_H264_DEFAULT_PROFILE_LEVEL: Final = _H264ProfileLevel(_H264_CONSTRAINED_BASELINE, 31)


def _bit_pattern_matches(pattern: str, value: int) -> bool:
    for position, bit in enumerate(pattern):
        if bit != "x" and ((value >> (7 - position)) & 1) != int(bit):
            return False
    return True


def _parse_h264_profile_level_id(value: object) -> _H264ProfileLevel | None:
    """Parse a 3-byte hex profile-level-id string; None when it is not a recognised H264 one."""
    if not isinstance(value, str) or len(value) != 6 or not set(value) <= _HEX_DIGITS:
        return None
    numeric = int(value, 16)
    if numeric == 0:
        return None
    level_idc = numeric & 0xFF
    profile_iop = (numeric >> 8) & 0xFF
    profile_idc = (numeric >> 16) & 0xFF
    if level_idc == _H264_LEVEL_1_1:
        # For level_idc 11 the constraint_set3 flag tells level 1b from level 1.1.
        level = _H264_LEVEL_1_B if profile_iop & _H264_CONSTRAINT_SET3_FLAG else _H264_LEVEL_1_1
    elif level_idc in _H264_LEVELS:
        level = level_idc
    else:
        return None
    for pattern_idc, pattern_iop, profile in _H264_PROFILE_PATTERNS:
        if profile_idc == pattern_idc and _bit_pattern_matches(pattern_iop, profile_iop):
            return _H264ProfileLevel(profile, level)
    return None


def _parse_sdp_h264_profile_level_id(params: Parameters) -> _H264ProfileLevel | None:
    value = params.get("profile-level-id")
    return _parse_h264_profile_level_id(value) if value else _H264_DEFAULT_PROFILE_LEVEL


def _is_same_h264_profile(params1: Parameters, params2: Parameters) -> bool:
    profile_level1 = _parse_sdp_h264_profile_level_id(params1)
    profile_level2 = _parse_sdp_h264_profile_level_id(params2)
    return (
        profile_level1 is not None
        and profile_level2 is not None
        and (profile_level1.profile == profile_level2.profile)
    )


def _h264_level_less_than(a: int, b: int) -> bool:
    if a == _H264_LEVEL_1_B:
        return b not in (_H264_LEVEL_1, _H264_LEVEL_1_B)
    if b == _H264_LEVEL_1_B:
        return a != _H264_LEVEL_1
    return a < b


def _h264_level_asymmetry_allowed(params: Parameters) -> bool:
    value = params.get("level-asymmetry-allowed")
    return (_is_int(value) and value == 1) or value == "1"


def _h264_profile_level_id_to_string(profile_level: _H264ProfileLevel) -> str | None:
    if profile_level.level == _H264_LEVEL_1_B:
        return _H264_LEVEL_1_B_STRINGS.get(profile_level.profile)
    return f"{_H264_PROFILE_IDC_IOP[profile_level.profile]}{profile_level.level:02x}"


def _h264_profile_level_id_for_answer(local_params: Parameters, remote_params: Parameters) -> str | None:
    """The profile-level-id to answer with; None when neither side gives one; ValueError when incompatible."""
    if not local_params.get("profile-level-id") and not remote_params.get("profile-level-id"):
        return None
    local = _parse_sdp_h264_profile_level_id(local_params)
    remote = _parse_sdp_h264_profile_level_id(remote_params)
    if local is None or remote is None:
        raise ValueError("invalid H264 profile-level-id")
    if local.profile != remote.profile:
        raise ValueError("H264 profile mismatch")
    if _h264_level_asymmetry_allowed(local_params) and _h264_level_asymmetry_allowed(remote_params):
        answer_level = local.level
    else:
        # Without level asymmetry the answer may not upgrade the offered level.
        answer_level = local.level if _h264_level_less_than(local.level, remote.level) else remote.level
    return _h264_profile_level_id_to_string(_H264ProfileLevel(local.profile, answer_level))


# ---------------------------------------------------------------------------------------------------------
# Router capabilities
# ---------------------------------------------------------------------------------------------------------


def generate_router_rtp_capabilities(media_codecs: list[RtpCodecCapability] | None) -> RtpCapabilities:
    """The Router's RTP capabilities for the given media codecs (mediasoup's generateRouterRtpCapabilities).

    Codecs get their preferredPayloadType if given, else mediasoup's static one, else the next free
    dynamic one (100..127, then 96..99); each video codec is followed by its RTX codec. The input is not
    modified.
    """
    if media_codecs is None:
        media_codecs = []
    if not isinstance(media_codecs, list):
        raise TypeError("media_codecs must be a list")
    supported_codecs = SUPPORTED_RTP_CAPABILITIES.get("codecs", [])
    dynamic_payload_types = list(_DYNAMIC_PAYLOAD_TYPES)
    codecs: list[RtpCodecCapability] = []

    def take_dynamic_payload_type() -> int:
        if not dynamic_payload_types:
            raise UnsupportedError("cannot allocate more dynamic codec payload types")
        return dynamic_payload_types.pop(0)

    for raw_media_codec in _copy_input(media_codecs):
        validate_rtp_codec_capability(raw_media_codec)
        media_codec = cast(RtpCodecCapability, raw_media_codec)
        matched = next((codec for codec in supported_codecs if match_codecs(media_codec, codec)), None)
        if matched is None:
            raise UnsupportedError(f"media codec not supported [mimeType:{_short(media_codec['mimeType'])}]")
        codec = copy.deepcopy(matched)
        if "preferredPayloadType" in media_codec:
            codec["preferredPayloadType"] = media_codec["preferredPayloadType"]
            if codec["preferredPayloadType"] in dynamic_payload_types:
                dynamic_payload_types.remove(codec["preferredPayloadType"])
        elif "preferredPayloadType" not in codec:
            codec["preferredPayloadType"] = take_dynamic_payload_type()
        if any(c["preferredPayloadType"] == codec["preferredPayloadType"] for c in codecs):
            raise TypeError(f"duplicated codec.preferredPayloadType {codec['preferredPayloadType']}")
        codec["parameters"] = {**codec.get("parameters", {}), **media_codec.get("parameters", {})}
        codecs.append(codec)
        if codec["kind"] == "video":
            codecs.append(
                {
                    "kind": "video",
                    "mimeType": "video/rtx",
                    "preferredPayloadType": take_dynamic_payload_type(),
                    "clockRate": codec["clockRate"],
                    "parameters": {"apt": codec["preferredPayloadType"]},
                    "rtcpFeedback": [],
                }
            )
    return {
        "codecs": codecs,
        "headerExtensions": copy.deepcopy(SUPPORTED_RTP_CAPABILITIES.get("headerExtensions", [])),
    }


def _router_capabilities(router_caps: object) -> RtpCapabilities:
    """A validated copy of Router capabilities: every codec must carry its preferredPayloadType."""
    caps = parse_rtp_capabilities(router_caps)
    for codec in caps.get("codecs", []):
        if "preferredPayloadType" not in codec:
            raise TypeError(f"router codec {_short(codec['mimeType'])} has no preferredPayloadType")
    return caps


# ---------------------------------------------------------------------------------------------------------
# Producers
# ---------------------------------------------------------------------------------------------------------


def get_producer_rtp_parameters_mapping(
    rtp_parameters: RtpParameters, router_caps: RtpCapabilities
) -> RtpMapping:
    """Map a Producer's payload types and encodings onto the Router's ones.

    Validates `rtp_parameters` in place (see validate_rtp_parameters) and, for H264, sets each codec's
    profile-level-id to the negotiated one, as mediasoup does. Raises UnsupportedError when a codec is
    not in the Router's capabilities.
    """
    validate_rtp_parameters(rtp_parameters)
    caps = _router_capabilities(router_caps)
    cap_codecs = caps.get("codecs", [])
    codecs = rtp_parameters["codecs"]
    # Producer codec index -> matched Router codec; media codecs first, then RTX ones, as mediasoup orders it.
    matches: dict[int, RtpCodecCapability] = {}

    for index, codec in enumerate(codecs):
        if is_rtx_codec(codec):
            continue
        cap_codec = next(
            (cap for cap in cap_codecs if match_codecs(codec, cap, strict=True, modify=True)), None
        )
        if cap_codec is None:
            raise UnsupportedError(
                f"unsupported codec [mimeType:{_short(codec['mimeType'])}, "
                f"payloadType:{codec['payloadType']}]"
            )
        matches[index] = cap_codec

    for index, codec in enumerate(codecs):
        if not is_rtx_codec(codec):
            continue
        apt = codec["parameters"].get("apt")
        media_index = next((i for i, c in enumerate(codecs) if c["payloadType"] == apt), None)
        if media_index is None:
            raise TypeError(f"missing media codec found for RTX PT {codec['payloadType']}")
        if is_rtx_codec(codecs[media_index]):
            raise TypeError(f"apt in RTX codec PT {codec['payloadType']} points to a RTX codec")
        cap_media_codec = matches[media_index]
        cap_rtx_codec = next(
            (
                cap
                for cap in cap_codecs
                if is_rtx_codec(cap)
                and cap["parameters"].get("apt") == cap_media_codec["preferredPayloadType"]
            ),
            None,
        )
        if cap_rtx_codec is None:
            raise UnsupportedError(
                f"no RTX codec for capability codec PT {cap_media_codec['preferredPayloadType']}"
            )
        matches[index] = cap_rtx_codec

    mapping_codecs: list[RtpMappingCodec] = [
        {"payloadType": codecs[index]["payloadType"], "mappedPayloadType": cap["preferredPayloadType"]}
        for index, cap in matches.items()
    ]
    mapping_encodings: list[RtpMappingEncoding] = []
    mapped_ssrc = generate_random_number()
    for offset, encoding in enumerate(rtp_parameters.get("encodings", [])):
        mapped: RtpMappingEncoding = {"mappedSsrc": mapped_ssrc + offset}
        if "ssrc" in encoding:
            mapped["ssrc"] = encoding["ssrc"]
        if "rid" in encoding:
            mapped["rid"] = encoding["rid"]
        if "scalabilityMode" in encoding:
            mapped["scalabilityMode"] = encoding["scalabilityMode"]
        mapping_encodings.append(mapped)
    return {"codecs": mapping_codecs, "encodings": mapping_encodings}


def _check_rtp_mapping(rtp_mapping: object, encodings_count: int) -> RtpMapping:
    mapping = _require_object(rtp_mapping, "rtp_mapping")
    codecs = mapping.get("codecs")
    encodings = mapping.get("encodings")
    if not isinstance(codecs, list) or not isinstance(encodings, list):
        raise TypeError("rtp_mapping needs codecs and encodings arrays")
    for entry in codecs:
        entry_dict = _require_object(entry, "rtp_mapping codec")
        _require_int(entry_dict.get("payloadType"), "rtp_mapping payloadType", 0, _PAYLOAD_TYPE_MAX)
        _require_int(
            entry_dict.get("mappedPayloadType"), "rtp_mapping mappedPayloadType", 0, _PAYLOAD_TYPE_MAX
        )
    for entry in encodings:
        entry_dict = _require_object(entry, "rtp_mapping encoding")
        _require_int(entry_dict.get("mappedSsrc"), "rtp_mapping mappedSsrc", 0, _UINT32_MAX)
    if len(encodings) != encodings_count:
        raise TypeError("rtp_mapping encodings do not match the RTP parameters' encodings")
    return cast(RtpMapping, mapping)


def get_consumable_rtp_parameters(
    kind: MediaKind, rtp_parameters: RtpParameters, router_caps: RtpCapabilities, rtp_mapping: RtpMapping
) -> RtpParameters:
    """The RTP parameters Consumers of this Producer start from: Router payload types and mapped SSRCs.

    `rtp_parameters` is validated in place; the result shares no data with the arguments.
    """
    if kind not in ("audio", "video"):
        raise TypeError(f"invalid kind: {_short(kind)}")
    validate_rtp_parameters(rtp_parameters)
    caps = _router_capabilities(router_caps)
    encodings = rtp_parameters.get("encodings", [])
    mapping = _check_rtp_mapping(rtp_mapping, len(encodings))
    cap_codecs = caps.get("codecs", [])
    consumable_codecs: list[RtpCodecParameters] = []

    for codec in rtp_parameters["codecs"]:
        if is_rtx_codec(codec):
            continue
        mapped_payload_type = next(
            (e["mappedPayloadType"] for e in mapping["codecs"] if e["payloadType"] == codec["payloadType"]),
            None,
        )
        cap_codec = next((c for c in cap_codecs if c["preferredPayloadType"] == mapped_payload_type), None)
        if cap_codec is None:
            raise TypeError(f"no mapped Router codec for payloadType {codec['payloadType']}")
        consumable_codec: RtpCodecParameters = {
            "mimeType": cap_codec["mimeType"],
            "payloadType": cap_codec["preferredPayloadType"],
            "clockRate": cap_codec["clockRate"],
        }
        if "channels" in cap_codec:
            consumable_codec["channels"] = cap_codec["channels"]
        # The Producer's own codec parameters are kept (not the Router's).
        consumable_codec["parameters"] = copy.deepcopy(codec["parameters"])
        consumable_codec["rtcpFeedback"] = copy.deepcopy(cap_codec["rtcpFeedback"])
        consumable_codecs.append(consumable_codec)

        cap_rtx_codec = next(
            (
                c
                for c in cap_codecs
                if is_rtx_codec(c) and c["parameters"].get("apt") == consumable_codec["payloadType"]
            ),
            None,
        )
        if cap_rtx_codec is not None:
            consumable_codecs.append(
                {
                    "mimeType": cap_rtx_codec["mimeType"],
                    "payloadType": cap_rtx_codec["preferredPayloadType"],
                    "clockRate": cap_rtx_codec["clockRate"],
                    "parameters": copy.deepcopy(cap_rtx_codec["parameters"]),
                    "rtcpFeedback": copy.deepcopy(cap_rtx_codec["rtcpFeedback"]),
                }
            )

    producer_uris = {ext["uri"] for ext in rtp_parameters.get("headerExtensions", [])}
    header_extensions: list[RtpHeaderExtensionParameters] = [
        {"uri": ext["uri"], "id": ext["preferredId"], "encrypt": ext["preferredEncrypt"], "parameters": {}}
        for ext in caps.get("headerExtensions", [])
        if ext["kind"] == kind
        and ext["direction"] in ("sendrecv", "sendonly")
        # abs-capture-time is only proxied from the Producer's packets: announcing it when the Producer
        # did not negotiate it would make the worker wait for an extension that never arrives.
        and (ext["uri"] != ABS_CAPTURE_TIME_URI or ext["uri"] in producer_uris)
    ]

    consumable_encodings: list[RtpEncodingParameters] = []
    for encoding, mapped in zip(encodings, mapping["encodings"], strict=True):
        consumable_encoding = copy.deepcopy(encoding)
        consumable_encoding.pop("rid", None)
        consumable_encoding.pop("rtx", None)
        consumable_encoding.pop("codecPayloadType", None)
        consumable_encoding["ssrc"] = mapped["mappedSsrc"]
        consumable_encodings.append(consumable_encoding)

    rtcp: RtcpParameters = {"reducedSize": True}
    producer_rtcp = rtp_parameters.get("rtcp", {})
    if "cname" in producer_rtcp:
        rtcp = {"cname": producer_rtcp["cname"], "reducedSize": True}
    consumable: RtpParameters = {
        "codecs": consumable_codecs,
        "headerExtensions": header_extensions,
        "encodings": consumable_encodings,
        "rtcp": rtcp,
    }
    if "msid" in rtp_parameters:
        consumable["msid"] = rtp_parameters["msid"]
    return consumable


# ---------------------------------------------------------------------------------------------------------
# Consumers
# ---------------------------------------------------------------------------------------------------------


def can_consume(consumable_rtp_parameters: RtpParameters, caps: RtpCapabilities) -> bool:
    """Whether an endpoint with `caps` can receive a Producer; raises TypeError when `caps` is malformed.

    Neither argument is modified.
    """
    remote_caps = parse_rtp_capabilities(caps)
    consumable = parse_rtp_parameters(consumable_rtp_parameters)
    remote_codecs = remote_caps.get("codecs", [])
    matching_codecs = [
        codec
        for codec in consumable["codecs"]
        if any(match_codecs(cap_codec, codec, strict=True) for cap_codec in remote_codecs)
    ]
    # There must be at least one media codec, and the first matching one must be it.
    return bool(matching_codecs) and not is_rtx_codec(matching_codecs[0])


def get_consumer_rtp_parameters(
    *,
    consumable_rtp_parameters: RtpParameters,
    remote_rtp_capabilities: RtpCapabilities,
    pipe: bool,
    enable_rtx: bool,
) -> RtpParameters:
    """The RTP parameters for a Consumer of a Producer, reduced to what the remote endpoint supports.

    A normal Consumer gets a single encoding with a fresh random SSRC (simulcast collapses into an
    L<n>T<m> scalabilityMode); a pipe Consumer keeps all encodings. `mid` is left for the Transport to set.
    Raises UnsupportedError when the endpoint supports none of the Producer's media codecs. Neither
    argument is modified.
    """
    consumable = parse_rtp_parameters(consumable_rtp_parameters)
    remote_caps = parse_rtp_capabilities(remote_rtp_capabilities)
    remote_codecs = remote_caps.get("codecs", [])

    codecs: list[RtpCodecParameters] = []
    for codec in consumable["codecs"]:
        if not enable_rtx and is_rtx_codec(codec):
            continue
        cap_codec = next((cap for cap in remote_codecs if match_codecs(cap, codec, strict=True)), None)
        if cap_codec is None:
            continue
        # Plain NACK (retransmission) only makes sense with RTX enabled.
        codec["rtcpFeedback"] = [
            fb for fb in cap_codec["rtcpFeedback"] if enable_rtx or fb["type"] != "nack" or fb["parameter"]
        ]
        codecs.append(codec)

    # Drop RTX codecs whose media codec did not make it.
    media_payload_types = {codec["payloadType"] for codec in codecs if not is_rtx_codec(codec)}
    codecs = [
        codec
        for codec in codecs
        if not is_rtx_codec(codec) or codec["parameters"].get("apt") in media_payload_types
    ]
    rtx_supported = any(is_rtx_codec(codec) for codec in codecs)
    if not codecs or is_rtx_codec(codecs[0]):
        raise UnsupportedError("no compatible media codecs")

    remote_extensions = {(ext["preferredId"], ext["uri"]) for ext in remote_caps.get("headerExtensions", [])}
    header_extensions = [
        ext for ext in consumable.get("headerExtensions", []) if (ext["id"], ext["uri"]) in remote_extensions
    ]
    _reduce_bwe_feedback(codecs, header_extensions)

    encodings = consumable.get("encodings", [])
    consumer: RtpParameters = {
        "codecs": codecs,
        "headerExtensions": header_extensions,
        "encodings": (
            _pipe_encodings(encodings, with_rtx=rtx_supported)
            if pipe
            else [_single_consumer_encoding(encodings, with_rtx=rtx_supported)]
        ),
        "rtcp": consumable["rtcp"],  # validation guarantees it
    }
    if "msid" in consumable:
        consumer["msid"] = consumable["msid"]
    return consumer


def _reduce_bwe_feedback(
    codecs: list[RtpCodecParameters], header_extensions: list[RtpHeaderExtensionParameters]
) -> None:
    """Keep one bandwidth estimation: transport-cc if its extension is there, else REMB with abs-send-time."""
    uris = {ext["uri"] for ext in header_extensions}
    if TRANSPORT_WIDE_CC_URI in uris:
        dropped = {"goog-remb"}
    elif ABS_SEND_TIME_URI in uris:
        dropped = {"transport-cc"}
    else:
        dropped = {"transport-cc", "goog-remb"}
    for codec in codecs:
        codec["rtcpFeedback"] = [fb for fb in codec["rtcpFeedback"] if fb["type"] not in dropped]


def _temporal_layers(scalability_mode: str | None) -> int:
    match = _SCALABILITY_MODE_RE.match(scalability_mode or "")
    return int(match.group(2)) if match else 1


def _single_consumer_encoding(
    consumable_encodings: list[RtpEncodingParameters], *, with_rtx: bool
) -> RtpEncodingParameters:
    encoding: RtpEncodingParameters = {"ssrc": generate_random_number()}
    if with_rtx:
        encoding["rtx"] = {"ssrc": encoding["ssrc"] + 1}
    # Encodings are assumed to share one scalabilityMode.
    scalability_mode = next(
        (e["scalabilityMode"] for e in consumable_encodings if e.get("scalabilityMode")), None
    )
    if len(consumable_encodings) > 1:
        # Simulcast: the Consumer sees the streams as spatial layers of one encoding.
        scalability_mode = f"L{len(consumable_encodings)}T{_temporal_layers(scalability_mode)}"
    if scalability_mode:
        encoding["scalabilityMode"] = scalability_mode
    max_bitrate = max((e.get("maxBitrate") or 0 for e in consumable_encodings), default=0)
    if max_bitrate:
        encoding["maxBitrate"] = max_bitrate
    return encoding


def _pipe_encodings(
    consumable_encodings: list[RtpEncodingParameters], *, with_rtx: bool
) -> list[RtpEncodingParameters]:
    base_ssrc = generate_random_number()
    base_rtx_ssrc = generate_random_number()
    encodings: list[RtpEncodingParameters] = []
    for offset, consumable_encoding in enumerate(consumable_encodings):
        encoding = copy.deepcopy(consumable_encoding)
        encoding["ssrc"] = base_ssrc + offset
        if with_rtx:
            encoding["rtx"] = {"ssrc": base_rtx_ssrc + offset}
        else:
            encoding.pop("rtx", None)
        encodings.append(encoding)
    return encodings


# The dependency descriptor extension is recvonly in the Router, so consumable parameters never carry it;
# pipe Consumers add it so the other Router receives it.
def _pipe_dependency_descriptor() -> RtpHeaderExtensionParameters | None:
    for ext in SUPPORTED_RTP_CAPABILITIES.get("headerExtensions", []):
        if ext["uri"] == DEPENDENCY_DESCRIPTOR_URI and ext.get("direction") != "sendrecv":
            return {"uri": ext["uri"], "id": ext["preferredId"], "encrypt": False, "parameters": {}}
    return None


_PIPE_DEPENDENCY_DESCRIPTOR: Final = _pipe_dependency_descriptor()

# Transport-level extensions that a pipe between Routers does not carry.
_PIPE_DROPPED_EXTENSIONS: Final = frozenset({MID_URI, ABS_SEND_TIME_URI, TRANSPORT_WIDE_CC_URI})


def get_pipe_consumer_rtp_parameters(
    *, consumable_rtp_parameters: RtpParameters, enable_rtx: bool = False
) -> RtpParameters:
    """RTP parameters for a pipe Consumer: all encodings and codecs, no BWE; no RTX/NACK unless enable_rtx.

    The argument is not modified.
    """
    consumable = parse_rtp_parameters(consumable_rtp_parameters)
    codecs: list[RtpCodecParameters] = []
    for codec in consumable["codecs"]:
        if not enable_rtx and is_rtx_codec(codec):
            continue
        codec["rtcpFeedback"] = [
            fb
            for fb in codec["rtcpFeedback"]
            if (fb["type"] == "nack" and fb["parameter"] == "pli")
            or (fb["type"] == "ccm" and fb["parameter"] == "fir")
            or (enable_rtx and fb["type"] == "nack" and not fb["parameter"])
        ]
        codecs.append(codec)

    header_extensions = [
        ext for ext in consumable.get("headerExtensions", []) if ext["uri"] not in _PIPE_DROPPED_EXTENSIONS
    ]
    if _PIPE_DEPENDENCY_DESCRIPTOR is not None and all(
        ext["uri"] != DEPENDENCY_DESCRIPTOR_URI for ext in header_extensions
    ):
        header_extensions.append(copy.deepcopy(_PIPE_DEPENDENCY_DESCRIPTOR))
        header_extensions.sort(key=lambda ext: ext["id"])

    consumer: RtpParameters = {
        "codecs": codecs,
        "headerExtensions": header_extensions,
        "encodings": _pipe_encodings(consumable.get("encodings", []), with_rtx=enable_rtx),
        "rtcp": consumable["rtcp"],  # validation guarantees it
    }
    if "msid" in consumable:
        consumer["msid"] = consumable["msid"]
    return consumer

"""RTP parameters and mappings between ORTC dicts and FlatBuffers (mediasoup's rtpParametersFbsUtils).

The dicts reaching here were validated by `ortc`; this module still refuses values the worker's
FlatBuffers fields cannot hold, since the worker does not verify its input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from FBS.RtpParameters.Boolean import BooleanT
from FBS.RtpParameters.CodecMapping import CodecMappingT
from FBS.RtpParameters.Double import DoubleT
from FBS.RtpParameters.EncodingMapping import EncodingMappingT
from FBS.RtpParameters.Integer32 import Integer32T
from FBS.RtpParameters.Integer32Array import Integer32ArrayT
from FBS.RtpParameters.Parameter import ParameterT
from FBS.RtpParameters.RtcpFeedback import RtcpFeedbackT
from FBS.RtpParameters.RtcpParameters import RtcpParametersT
from FBS.RtpParameters.RtpCodecParameters import RtpCodecParametersT
from FBS.RtpParameters.RtpEncodingParameters import RtpEncodingParametersT
from FBS.RtpParameters.RtpHeaderExtensionParameters import RtpHeaderExtensionParametersT
from FBS.RtpParameters.RtpHeaderExtensionUri import RtpHeaderExtensionUri
from FBS.RtpParameters.RtpMapping import RtpMappingT
from FBS.RtpParameters.RtpParameters import RtpParametersT
from FBS.RtpParameters.Rtx import RtxT
from FBS.RtpParameters.String import StringT
from FBS.RtpParameters.Value import Value

from .fbs_codec import int_list, text
from .rtp_types import (
    Parameters,
    RtcpFeedback,
    RtpCodecParameters,
    RtpEncodingParameters,
    RtpHeaderExtensionParameters,
    RtpMapping,
    RtpParameters,
)

logger = logging.getLogger(__name__)

HEADER_EXTENSION_URI_TO_FBS: dict[str, int] = {
    "urn:ietf:params:rtp-hdrext:sdes:mid": RtpHeaderExtensionUri.Mid,
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": RtpHeaderExtensionUri.RtpStreamId,
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": RtpHeaderExtensionUri.RepairRtpStreamId,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": RtpHeaderExtensionUri.AbsSendTime,
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": (
        RtpHeaderExtensionUri.TransportWideCcDraft01
    ),
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": RtpHeaderExtensionUri.SsrcAudioLevel,
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension": (
        RtpHeaderExtensionUri.DependencyDescriptor
    ),
    "urn:3gpp:video-orientation": RtpHeaderExtensionUri.VideoOrientation,
    "urn:ietf:params:rtp-hdrext:toffset": RtpHeaderExtensionUri.TimeOffset,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time": RtpHeaderExtensionUri.AbsCaptureTime,
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay": RtpHeaderExtensionUri.PlayoutDelay,
    "urn:mediasoup:params:rtp-hdrext:packet-id": RtpHeaderExtensionUri.MediasoupPacketId,
}
HEADER_EXTENSION_URI_FROM_FBS: dict[int, str] = {v: k for k, v in HEADER_EXTENSION_URI_TO_FBS.items()}

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _in_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise TypeError(f"{what} {value} does not fit the worker's field ({low}..{high})")
    return value


def parameters_to_fbs(parameters: Parameters | None) -> list[ParameterT]:
    result: list[ParameterT] = []
    for name, value in (parameters or {}).items():
        if isinstance(value, bool):
            fbs_value: Any = BooleanT(value=1 if value else 0)
            value_type = Value.Boolean
        elif isinstance(value, int):
            if _INT32_MIN <= value <= _INT32_MAX:
                fbs_value, value_type = Integer32T(value=value), Value.Integer32
            else:  # the worker keeps big integers exactly as doubles
                fbs_value, value_type = DoubleT(value=float(value)), Value.Double
        elif isinstance(value, float):
            fbs_value, value_type = DoubleT(value=value), Value.Double
        elif isinstance(value, str):
            fbs_value, value_type = StringT(value=value), Value.String
        elif isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            fbs_value = Integer32ArrayT(value=[_in_range(v, _INT32_MIN, _INT32_MAX, name) for v in value])
            value_type = Value.Integer32Array
        else:
            raise TypeError(f"invalid parameter {name!r}: {value!r}")
        result.append(ParameterT(name=str(name), valueType=value_type, value=fbs_value))
    return result


def parameters_from_fbs(parameters: list[ParameterT] | None) -> Parameters:
    result: dict[str, Any] = {}
    for parameter in parameters or []:
        value = parameter.value
        if parameter.valueType == Value.Boolean:
            result[text(parameter.name)] = bool(value.value)
        elif parameter.valueType == Value.Integer32Array:
            result[text(parameter.name)] = int_list(value.value)
        elif parameter.valueType == Value.String:
            result[text(parameter.name)] = text(value.value)
        elif value is not None:
            result[text(parameter.name)] = value.value
    return result


def _codec_to_fbs(codec: RtpCodecParameters) -> RtpCodecParametersT:
    channels = codec.get("channels")
    return RtpCodecParametersT(
        mimeType=codec["mimeType"],
        payloadType=_in_range(codec["payloadType"], 0, 127, "payloadType"),
        clockRate=_in_range(codec["clockRate"], 0, 0xFFFFFFFF, "clockRate"),
        channels=None if channels is None else _in_range(channels, 0, 255, "channels"),
        parameters=parameters_to_fbs(codec.get("parameters")),
        rtcpFeedback=[
            RtcpFeedbackT(type=fb["type"], parameter=fb.get("parameter") or None)
            for fb in codec.get("rtcpFeedback", [])
        ],
    )


def _header_extension_to_fbs(ext: RtpHeaderExtensionParameters) -> RtpHeaderExtensionParametersT | None:
    uri = HEADER_EXTENSION_URI_TO_FBS.get(ext["uri"])
    if uri is None:
        logger.debug("header extension %s is unknown to the worker: left out", ext["uri"])
        return None
    return RtpHeaderExtensionParametersT(
        uri=uri,
        id=_in_range(ext["id"], 1, 255, "header extension id"),
        encrypt=bool(ext.get("encrypt", False)),
        parameters=parameters_to_fbs(ext.get("parameters")),
    )


def encodings_to_fbs(encodings: Sequence[RtpEncodingParameters]) -> list[RtpEncodingParametersT]:
    result: list[RtpEncodingParametersT] = []
    for encoding in encodings:
        rtx = encoding.get("rtx")
        max_bitrate = encoding.get("maxBitrate")
        result.append(
            RtpEncodingParametersT(
                ssrc=encoding.get("ssrc") or None,
                rid=encoding.get("rid") or None,
                codecPayloadType=encoding.get("codecPayloadType"),
                rtx=RtxT(ssrc=rtx["ssrc"]) if rtx else None,
                dtx=bool(encoding.get("dtx", False)),
                scalabilityMode=encoding.get("scalabilityMode") or None,
                maxBitrate=max_bitrate,
            )
        )
    return result


def rtp_parameters_to_fbs(parameters: RtpParameters) -> RtpParametersT:
    rtcp = parameters.get("rtcp") or {}
    extensions = [_header_extension_to_fbs(ext) for ext in parameters.get("headerExtensions", [])]
    return RtpParametersT(
        mid=parameters.get("mid") or None,
        codecs=[_codec_to_fbs(codec) for codec in parameters["codecs"]],
        headerExtensions=[ext for ext in extensions if ext is not None],
        encodings=encodings_to_fbs(parameters.get("encodings", [])),
        rtcp=RtcpParametersT(
            cname=rtcp.get("cname") or None, reducedSize=bool(rtcp.get("reducedSize", True))
        ),
        msid=parameters.get("msid") or None,
    )


def rtp_mapping_to_fbs(mapping: RtpMapping) -> RtpMappingT:
    return RtpMappingT(
        codecs=[
            CodecMappingT(payloadType=codec["payloadType"], mappedPayloadType=codec["mappedPayloadType"])
            for codec in mapping["codecs"]
        ],
        encodings=[
            EncodingMappingT(
                rid=encoding.get("rid") or None, ssrc=encoding.get("ssrc"), mappedSsrc=encoding["mappedSsrc"]
            )
            for encoding in mapping["encodings"]
        ],
    )


def rtp_parameters_from_fbs(data: RtpParametersT) -> RtpParameters:
    """Parse RTP parameters the worker sent back (dumps)."""
    codecs: list[RtpCodecParameters] = []
    for codec in data.codecs or []:
        parsed: RtpCodecParameters = {
            "mimeType": text(codec.mimeType),
            "payloadType": codec.payloadType,
            "clockRate": codec.clockRate,
            "parameters": parameters_from_fbs(codec.parameters),
            "rtcpFeedback": [
                RtcpFeedback(type=text(fb.type), parameter=text(fb.parameter))
                for fb in codec.rtcpFeedback or []
            ],
        }
        if codec.channels is not None:
            parsed["channels"] = codec.channels
        codecs.append(parsed)
    result: RtpParameters = {
        "codecs": codecs,
        "headerExtensions": [
            {
                "uri": HEADER_EXTENSION_URI_FROM_FBS.get(ext.uri, str(ext.uri)),
                "id": ext.id,
                "encrypt": ext.encrypt,
                "parameters": parameters_from_fbs(ext.parameters),
            }
            for ext in data.headerExtensions or []
        ],
        "encodings": [_encoding_from_fbs(encoding) for encoding in data.encodings or []],
    }
    if data.rtcp is not None:
        result["rtcp"] = {"cname": text(data.rtcp.cname), "reducedSize": data.rtcp.reducedSize}
    if data.mid:
        result["mid"] = text(data.mid)
    if data.msid:
        result["msid"] = text(data.msid)
    return result


def _encoding_from_fbs(encoding: RtpEncodingParametersT) -> RtpEncodingParameters:
    result: RtpEncodingParameters = {"dtx": encoding.dtx}
    if encoding.ssrc is not None:
        result["ssrc"] = encoding.ssrc
    if encoding.rid:
        result["rid"] = text(encoding.rid)
    if encoding.codecPayloadType is not None:
        result["codecPayloadType"] = encoding.codecPayloadType
    if encoding.rtx is not None:
        result["rtx"] = {"ssrc": encoding.rtx.ssrc}
    if encoding.scalabilityMode:
        result["scalabilityMode"] = text(encoding.scalabilityMode)
    if encoding.maxBitrate is not None:
        result["maxBitrate"] = encoding.maxBitrate
    return result

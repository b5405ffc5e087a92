"""Wire-visible RTP shapes (mediasoup's rtpParametersTypes), keyed in camelCase as mediasoup-client uses them.

These describe data after `ortc.validate_*` has normalised it; raw client JSON is `object` until then.
"""

from __future__ import annotations

from typing import Literal, Required, TypedDict

MediaKind = Literal["audio", "video"]

RtpHeaderExtensionDirection = Literal["sendrecv", "sendonly", "recvonly", "inactive"]

# The header extension URIs mediasoup-worker knows (its FlatBuffers enum); others cannot reach the worker.
RtpHeaderExtensionUri = Literal[
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
    "urn:3gpp:video-orientation",
    "urn:ietf:params:rtp-hdrext:toffset",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    "urn:mediasoup:params:rtp-hdrext:packet-id",
]

# Codec / header extension parameter values: fmtp-style strings or numbers.
ParameterValue = str | int | float
Parameters = dict[str, ParameterValue]


class RtcpFeedback(TypedDict, total=False):
    type: Required[str]
    parameter: str  # "" after normalisation when there is none


class RtpCodecCapability(TypedDict, total=False):
    """A codec in RTP capabilities; `preferredPayloadType` is optional in a Router's media codecs."""

    kind: Required[MediaKind]
    mimeType: Required[str]
    preferredPayloadType: int
    clockRate: Required[int]
    channels: int  # audio only
    parameters: Parameters
    rtcpFeedback: list[RtcpFeedback]


class RtpHeaderExtension(TypedDict, total=False):
    """A header extension in RTP capabilities."""

    kind: Required[MediaKind]
    uri: Required[str]
    preferredId: Required[int]
    preferredEncrypt: bool
    direction: RtpHeaderExtensionDirection


class RtpCapabilities(TypedDict, total=False):
    codecs: list[RtpCodecCapability]
    headerExtensions: list[RtpHeaderExtension]


class RtpCodecParameters(TypedDict, total=False):
    mimeType: Required[str]
    payloadType: Required[int]
    clockRate: Required[int]
    channels: int  # audio only
    parameters: Parameters
    rtcpFeedback: list[RtcpFeedback]


class RtpHeaderExtensionParameters(TypedDict, total=False):
    uri: Required[str]
    id: Required[int]
    encrypt: bool
    parameters: Parameters


class RtxParameters(TypedDict):
    ssrc: int


class RtpEncodingParameters(TypedDict, total=False):
    ssrc: int
    rid: str
    codecPayloadType: int
    rtx: RtxParameters
    dtx: bool
    scalabilityMode: str
    maxBitrate: int


class RtcpParameters(TypedDict, total=False):
    cname: str
    reducedSize: bool


class RtpParameters(TypedDict, total=False):
    mid: str
    codecs: Required[list[RtpCodecParameters]]
    headerExtensions: list[RtpHeaderExtensionParameters]
    encodings: list[RtpEncodingParameters]
    rtcp: RtcpParameters
    msid: str


class RtpMappingCodec(TypedDict):
    payloadType: int
    mappedPayloadType: int


class RtpMappingEncoding(TypedDict, total=False):
    ssrc: int
    rid: str
    scalabilityMode: str
    mappedSsrc: Required[int]


class RtpMapping(TypedDict):
    """How a Producer's payload types and SSRCs map onto the Router's (sent to the worker with produce)."""

    codecs: list[RtpMappingCodec]
    encodings: list[RtpMappingEncoding]


class SctpStreamParameters(TypedDict, total=False):
    streamId: Required[int]
    ordered: bool
    maxPacketLifeTime: int
    maxRetransmits: int

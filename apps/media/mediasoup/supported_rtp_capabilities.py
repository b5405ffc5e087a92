"""The codecs and RTP header extensions mediasoup 3.27.1 supports (its supportedRtpCapabilities.ts).

The data is already in normalised form (what `ortc.validate_rtp_capabilities` would produce): every codec has
`parameters` and `rtcpFeedback`, every feedback a `parameter`, every audio codec `channels`.
Treat `SUPPORTED_RTP_CAPABILITIES` as read-only: `copy.deepcopy` it before handing parts out.
"""

from __future__ import annotations

from typing import Final

from apps.media.mediasoup.rtp_types import (
    MediaKind,
    Parameters,
    RtcpFeedback,
    RtpCapabilities,
    RtpCodecCapability,
    RtpHeaderExtension,
    RtpHeaderExtensionDirection,
)


def _fb(type_: str, parameter: str = "") -> RtcpFeedback:
    return {"type": type_, "parameter": parameter}


_AUDIO_FEEDBACK: Final = ("nack", "transport-cc")
_VIDEO_FEEDBACK: Final = (
    ("nack", ""),
    ("nack", "pli"),
    ("ccm", "fir"),
    ("goog-remb", ""),
    ("transport-cc", ""),
)


def _audio(
    mime_subtype: str,
    clock_rate: int,
    *,
    channels: int = 1,
    preferred_payload_type: int | None = None,
    parameters: Parameters | None = None,
    feedback: tuple[str, ...] = (),
) -> RtpCodecCapability:
    codec: RtpCodecCapability = {
        "kind": "audio",
        "mimeType": f"audio/{mime_subtype}",
        "clockRate": clock_rate,
        "channels": channels,
        "parameters": dict(parameters or {}),
        "rtcpFeedback": [_fb(type_) for type_ in feedback],
    }
    if preferred_payload_type is not None:
        codec["preferredPayloadType"] = preferred_payload_type
    return codec


def _video(mime_subtype: str, parameters: Parameters | None = None) -> RtpCodecCapability:
    return {
        "kind": "video",
        "mimeType": f"video/{mime_subtype}",
        "clockRate": 90000,
        "parameters": dict(parameters or {}),
        "rtcpFeedback": [_fb(type_, parameter) for type_, parameter in _VIDEO_FEEDBACK],
    }


def _ext(
    kind: MediaKind, uri: str, preferred_id: int, direction: RtpHeaderExtensionDirection = "sendrecv"
) -> RtpHeaderExtension:
    return {
        "kind": kind,
        "uri": uri,
        "preferredId": preferred_id,
        "preferredEncrypt": False,
        "direction": direction,
    }


def _multiopus(
    channels: int, channel_mapping: str, num_streams: int, coupled_streams: int
) -> RtpCodecCapability:
    parameters: Parameters = {
        "channel_mapping": channel_mapping,
        "num_streams": num_streams,
        "coupled_streams": coupled_streams,
    }
    return _audio("multiopus", 48000, channels=channels, parameters=parameters, feedback=_AUDIO_FEEDBACK)


MID_URI: Final = "urn:ietf:params:rtp-hdrext:sdes:mid"
RTP_STREAM_ID_URI: Final = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RTP_STREAM_ID_URI: Final = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
ABS_SEND_TIME_URI: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
TRANSPORT_WIDE_CC_URI: Final = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
SSRC_AUDIO_LEVEL_URI: Final = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
DEPENDENCY_DESCRIPTOR_URI: Final = (
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
)
VIDEO_ORIENTATION_URI: Final = "urn:3gpp:video-orientation"
TOFFSET_URI: Final = "urn:ietf:params:rtp-hdrext:toffset"
ABS_CAPTURE_TIME_URI: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
PLAYOUT_DELAY_URI: Final = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
MEDIASOUP_PACKET_ID_URI: Final = "urn:mediasoup:params:rtp-hdrext:packet-id"


SUPPORTED_RTP_CAPABILITIES: Final[RtpCapabilities] = {
    "codecs": [
        _audio("opus", 48000, channels=2, feedback=_AUDIO_FEEDBACK),
        _multiopus(4, "0,1,2,3", num_streams=2, coupled_streams=2),  # quad
        _multiopus(6, "0,4,1,2,3,5", num_streams=4, coupled_streams=2),  # 5.1
        _multiopus(8, "0,6,1,2,3,4,5,7", num_streams=5, coupled_streams=3),  # 7.1
        _audio("PCMU", 8000, preferred_payload_type=0, feedback=("transport-cc",)),
        _audio("PCMA", 8000, preferred_payload_type=8, feedback=("transport-cc",)),
        _audio("ISAC", 32000, feedback=("transport-cc",)),
        _audio("ISAC", 16000, feedback=("transport-cc",)),
        _audio("G722", 8000, preferred_payload_type=9, feedback=("transport-cc",)),
        _audio("iLBC", 8000, feedback=("transport-cc",)),
        _audio("SILK", 24000, feedback=("transport-cc",)),
        _audio("SILK", 16000, feedback=("transport-cc",)),
        _audio("SILK", 12000, feedback=("transport-cc",)),
        _audio("SILK", 8000, feedback=("transport-cc",)),
        _audio("CN", 32000, preferred_payload_type=13),
        _audio("CN", 16000, preferred_payload_type=13),
        _audio("CN", 8000, preferred_payload_type=13),
        _audio("telephone-event", 48000),
        _audio("telephone-event", 32000),
        _audio("telephone-event", 16000),
        _audio("telephone-event", 8000),
        _video("VP8"),
        _video("VP9"),
        _video("H264", {"level-asymmetry-allowed": 1}),
        _video("AV1"),
    ],
    "headerExtensions": [
        _ext("audio", MID_URI, 1),
        _ext("video", MID_URI, 1),
        _ext("video", RTP_STREAM_ID_URI, 2, "recvonly"),
        _ext("video", REPAIRED_RTP_STREAM_ID_URI, 3, "recvonly"),
        _ext("audio", ABS_SEND_TIME_URI, 4),
        _ext("video", ABS_SEND_TIME_URI, 4),
        # For audio mediasoup only uses transport-wide-cc when receiving media.
        _ext("audio", TRANSPORT_WIDE_CC_URI, 5, "recvonly"),
        _ext("video", TRANSPORT_WIDE_CC_URI, 5),
        _ext("audio", SSRC_AUDIO_LEVEL_URI, 6),
        _ext("video", DEPENDENCY_DESCRIPTOR_URI, 7, "recvonly"),
        _ext("video", VIDEO_ORIENTATION_URI, 8),
        _ext("video", TOFFSET_URI, 9),
        _ext("audio", ABS_CAPTURE_TIME_URI, 10),
        _ext("video", ABS_CAPTURE_TIME_URI, 10),
        _ext("audio", PLAYOUT_DELAY_URI, 11),
        _ext("video", PLAYOUT_DELAY_URI, 11),
        _ext("audio", MEDIASOUP_PACKET_ID_URI, 12),
        _ext("video", MEDIASOUP_PACKET_ID_URI, 12),
    ],
}

# Every URI the worker accepts (its FlatBuffers RtpHeaderExtensionUri enum has exactly these).
SUPPORTED_HEADER_EXTENSION_URIS: Final[frozenset[str]] = frozenset(
    ext["uri"] for ext in SUPPORTED_RTP_CAPABILITIES.get("headerExtensions", [])
)

"""ORTC negotiation (apps.media.mediasoup.ortc) against mediasoup 3.27.1's behaviour; no worker needed."""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.media.mediasoup import ortc
from apps.media.mediasoup.errors import UnsupportedError
from apps.media.mediasoup.supported_rtp_capabilities import (
    SUPPORTED_HEADER_EXTENSION_URIS,
    SUPPORTED_RTP_CAPABILITIES,
)

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
DEPENDENCY_DESCRIPTOR = (
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
)
VIDEO_ORIENTATION = "urn:3gpp:video-orientation"
TOFFSET = "urn:ietf:params:rtp-hdrext:toffset"
ABS_CAPTURE_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"
PLAYOUT_DELAY = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
PACKET_ID = "urn:mediasoup:params:rtp-hdrext:packet-id"

FLYLIVE_OPUS: Any = {
    "kind": "audio",
    "mimeType": "audio/opus",
    "clockRate": 48000,
    "channels": 2,
    "parameters": {"useinbandfec": 1, "usedtx": 0, "minptime": 10, "sprop-stereo": 1},
}
VP8: Any = {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000}
H264: Any = {
    "kind": "video",
    "mimeType": "video/H264",
    "clockRate": 90000,
    "parameters": {"packetization-mode": 1, "profile-level-id": "42e01f", "level-asymmetry-allowed": 1},
}

# What mediasoup-client (Chrome) sends with transport.produce() for a microphone track.
CHROME_OPUS_RTP_PARAMETERS: Any = {
    "codecs": [
        {
            "mimeType": "audio/opus",
            "payloadType": 111,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"minptime": 10, "useinbandfec": 1, "sprop-stereo": 1, "usedtx": 1},
            "rtcpFeedback": [{"type": "transport-cc", "parameter": ""}, {"type": "nack", "parameter": ""}],
        }
    ],
    "headerExtensions": [
        {"uri": MID, "id": 4, "encrypt": False, "parameters": {}},
        {"uri": ABS_SEND_TIME, "id": 2, "encrypt": False, "parameters": {}},
        {"uri": TWCC, "id": 3, "encrypt": False, "parameters": {}},
        {"uri": AUDIO_LEVEL, "id": 1, "encrypt": False, "parameters": {}},
    ],
    "encodings": [{"ssrc": 2841385637, "dtx": False}],
    "rtcp": {"cname": "kdnw4Z5fmQZ+Lmx4", "reducedSize": True},
    "mid": "0",
}

# A simulcast VP8 webcam with RTX, as mediasoup-client sends it.
CHROME_VP8_SIMULCAST: Any = {
    "mid": "1",
    "codecs": [
        {
            "mimeType": "video/VP8",
            "payloadType": 96,
            "clockRate": 90000,
            "parameters": {},
            "rtcpFeedback": [
                {"type": "goog-remb", "parameter": ""},
                {"type": "transport-cc", "parameter": ""},
                {"type": "ccm", "parameter": "fir"},
                {"type": "nack", "parameter": ""},
                {"type": "nack", "parameter": "pli"},
            ],
        },
        {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000, "parameters": {"apt": 96}},
    ],
    "headerExtensions": [
        {"uri": MID, "id": 4},
        {"uri": ABS_SEND_TIME, "id": 2},
        {"uri": TWCC, "id": 3},
        {"uri": VIDEO_ORIENTATION, "id": 13},
        {"uri": TOFFSET, "id": 14},
    ],
    "encodings": [
        {"ssrc": 1001, "rtx": {"ssrc": 1002}, "maxBitrate": 100000, "scalabilityMode": "L1T3"},
        {"ssrc": 2001, "rtx": {"ssrc": 2002}, "maxBitrate": 300000, "scalabilityMode": "L1T3"},
        {"ssrc": 3001, "rtx": {"ssrc": 3002}, "maxBitrate": 900000, "scalabilityMode": "L1T3"},
    ],
    "rtcp": {"cname": "webcam-cname"},
}

# mediasoup-client's device.rtpCapabilities (recv side) for an audio-only FlyLive router.
LISTENER_CAPS: Any = {
    "codecs": [
        {
            "kind": "audio",
            "mimeType": "audio/opus",
            "preferredPayloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"minptime": 10, "useinbandfec": 1},
            "rtcpFeedback": [{"type": "transport-cc", "parameter": ""}, {"type": "nack", "parameter": ""}],
        }
    ],
    "headerExtensions": [
        {"kind": "audio", "uri": MID, "preferredId": 1, "preferredEncrypt": False, "direction": "sendrecv"},
        {
            "kind": "audio",
            "uri": ABS_SEND_TIME,
            "preferredId": 4,
            "preferredEncrypt": False,
            "direction": "sendrecv",
        },
        {
            "kind": "audio",
            "uri": AUDIO_LEVEL,
            "preferredId": 6,
            "preferredEncrypt": False,
            "direction": "sendrecv",
        },
    ],
}

MAPPED_SSRC = 555_000_000


@pytest.fixture
def fixed_random(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """generate_random_number() returns 555000000, 666000000, ... in turn; the list records what it gave."""
    given_out: list[int] = []

    def fake() -> int:
        given_out.append(MAPPED_SSRC + 111_000_000 * len(given_out))
        return given_out[-1]

    monkeypatch.setattr(ortc, "generate_random_number", fake)
    return given_out


def router_caps(*codecs: Any) -> Any:
    return ortc.generate_router_rtp_capabilities([copy.deepcopy(codec) for codec in codecs])


def produce(kind: Any, params: Any, caps: Any) -> tuple[Any, Any, Any]:
    """What a Transport does on produce: validate, map, derive consumable parameters."""
    rtp_parameters = copy.deepcopy(params)
    ortc.validate_rtp_parameters(rtp_parameters)
    mapping = ortc.get_producer_rtp_parameters_mapping(rtp_parameters, caps)
    consumable = ortc.get_consumable_rtp_parameters(kind, rtp_parameters, caps, mapping)
    return rtp_parameters, mapping, consumable


# --------------------------------------------------------------------------------------------------------
# Router capabilities
# --------------------------------------------------------------------------------------------------------


def test_router_capabilities_for_flylive_opus() -> None:
    caps = router_caps(FLYLIVE_OPUS)

    assert caps["codecs"] == [
        {
            "kind": "audio",
            "mimeType": "audio/opus",
            "preferredPayloadType": 100,
            "clockRate": 48000,
            "channels": 2,
            "parameters": {"useinbandfec": 1, "usedtx": 0, "minptime": 10, "sprop-stereo": 1},
            "rtcpFeedback": [{"type": "nack", "parameter": ""}, {"type": "transport-cc", "parameter": ""}],
        }
    ]
    extensions = caps["headerExtensions"]
    assert len(extensions) == 18
    assert extensions == SUPPORTED_RTP_CAPABILITIES["headerExtensions"]
    assert extensions is not SUPPORTED_RTP_CAPABILITIES["headerExtensions"]
    audio = {
        ext["uri"]: (ext["preferredId"], ext["direction"]) for ext in extensions if ext["kind"] == "audio"
    }
    assert audio == {
        MID: (1, "sendrecv"),
        ABS_SEND_TIME: (4, "sendrecv"),
        TWCC: (5, "recvonly"),
        AUDIO_LEVEL: (6, "sendrecv"),
        ABS_CAPTURE_TIME: (10, "sendrecv"),
        PLAYOUT_DELAY: (11, "sendrecv"),
        PACKET_ID: (12, "sendrecv"),
    }
    assert all(ext["preferredEncrypt"] is False for ext in extensions)


def test_router_capabilities_video_codecs_get_rtx_and_dynamic_payload_types() -> None:
    caps = router_caps(FLYLIVE_OPUS, VP8, H264)

    summary = [(c["mimeType"], c["preferredPayloadType"], c["parameters"].get("apt")) for c in caps["codecs"]]
    assert summary == [
        ("audio/opus", 100, None),
        ("video/VP8", 101, None),
        ("video/rtx", 102, 101),
        ("video/H264", 103, None),
        ("video/rtx", 104, 103),
    ]
    assert caps["codecs"][2] == {
        "kind": "video",
        "mimeType": "video/rtx",
        "preferredPayloadType": 102,
        "clockRate": 90000,
        "parameters": {"apt": 101},
        "rtcpFeedback": [],
    }
    assert caps["codecs"][1]["rtcpFeedback"] == [
        {"type": "nack", "parameter": ""},
        {"type": "nack", "parameter": "pli"},
        {"type": "ccm", "parameter": "fir"},
        {"type": "goog-remb", "parameter": ""},
        {"type": "transport-cc", "parameter": ""},
    ]
    assert "channels" not in caps["codecs"][1]
    # The media codec's parameters are merged over mediasoup's own (level-asymmetry-allowed).
    assert caps["codecs"][3]["parameters"] == {
        "level-asymmetry-allowed": 1,
        "packetization-mode": 1,
        "profile-level-id": "42e01f",
    }


def test_router_capabilities_keep_given_and_static_payload_types() -> None:
    pcmu = {"kind": "audio", "mimeType": "audio/pcmu", "clockRate": 8000}
    caps = router_caps(dict(VP8, preferredPayloadType=100), FLYLIVE_OPUS, pcmu)

    summary = [(c["mimeType"], c["preferredPayloadType"]) for c in caps["codecs"]]
    # 100 is taken by VP8, so RTX and opus skip it; PCMU keeps its static type; mimeType case is mediasoup's.
    assert summary == [("video/VP8", 100), ("video/rtx", 101), ("audio/opus", 102), ("audio/PCMU", 0)]
    assert caps["codecs"][3]["channels"] == 1


def test_router_capabilities_do_not_modify_the_media_codecs() -> None:
    media_codecs = [copy.deepcopy(FLYLIVE_OPUS), copy.deepcopy(VP8)]
    before = copy.deepcopy(media_codecs)
    ortc.generate_router_rtp_capabilities(media_codecs)
    assert media_codecs == before


def test_router_capabilities_with_no_codecs() -> None:
    assert ortc.generate_router_rtp_capabilities(None)["codecs"] == []
    assert ortc.generate_router_rtp_capabilities([])["codecs"] == []


@pytest.mark.parametrize(
    "media_codec",
    [
        {"kind": "audio", "mimeType": "audio/chicken", "clockRate": 8000, "channels": 4},
        dict(FLYLIVE_OPUS, channels=1),  # mediasoup only supports stereo opus
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 44100, "channels": 2},
        {"kind": "video", "mimeType": "video/H265", "clockRate": 90000},
    ],
)
def test_router_capabilities_reject_unsupported_codecs(media_codec: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedError, match="media codec not supported"):
        router_caps(media_codec)


def test_router_capabilities_run_out_of_dynamic_payload_types() -> None:
    with pytest.raises(UnsupportedError, match="cannot allocate"):
        router_caps(*[FLYLIVE_OPUS] * 33)


def test_router_capabilities_reject_duplicated_payload_types() -> None:
    with pytest.raises(TypeError, match="duplicated"):
        router_caps(dict(FLYLIVE_OPUS, preferredPayloadType=101), VP8, dict(VP8, preferredPayloadType=101))


def test_supported_capabilities_are_already_normalised() -> None:
    normalised = copy.deepcopy(SUPPORTED_RTP_CAPABILITIES)
    ortc.validate_rtp_capabilities(normalised)
    assert normalised == SUPPORTED_RTP_CAPABILITIES
    assert len(SUPPORTED_RTP_CAPABILITIES["codecs"]) == 25
    assert len(SUPPORTED_HEADER_EXTENSION_URIS) == 12


# --------------------------------------------------------------------------------------------------------
# Producer mapping and consumable parameters
# --------------------------------------------------------------------------------------------------------


def test_producer_mapping_for_chrome_opus(fixed_random: list[int]) -> None:
    caps = router_caps(FLYLIVE_OPUS)
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)

    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)

    assert mapping == {
        "codecs": [{"payloadType": 111, "mappedPayloadType": 100}],
        "encodings": [{"ssrc": 2841385637, "mappedSsrc": MAPPED_SSRC}],
    }


def test_producer_mapping_with_rtx_and_simulcast(fixed_random: list[int]) -> None:
    caps = router_caps(FLYLIVE_OPUS, VP8)
    params = copy.deepcopy(CHROME_VP8_SIMULCAST)
    params["encodings"][2] = {"rid": "h", "scalabilityMode": "L1T3"}

    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)

    assert mapping["codecs"] == [
        {"payloadType": 96, "mappedPayloadType": 101},
        {"payloadType": 97, "mappedPayloadType": 102},
    ]
    assert mapping["encodings"] == [
        {"ssrc": 1001, "scalabilityMode": "L1T3", "mappedSsrc": MAPPED_SSRC},
        {"ssrc": 2001, "scalabilityMode": "L1T3", "mappedSsrc": MAPPED_SSRC + 1},
        {"rid": "h", "scalabilityMode": "L1T3", "mappedSsrc": MAPPED_SSRC + 2},
    ]


def test_producer_mapping_rejects_codecs_the_router_lacks() -> None:
    with pytest.raises(UnsupportedError, match=r"unsupported codec \[mimeType:'video/VP8', payloadType:96\]"):
        ortc.get_producer_rtp_parameters_mapping(
            copy.deepcopy(CHROME_VP8_SIMULCAST), router_caps(FLYLIVE_OPUS)
        )


def test_producer_mapping_rejects_rtx_without_its_media_codec() -> None:
    params = copy.deepcopy(CHROME_VP8_SIMULCAST)
    params["codecs"][1]["parameters"]["apt"] = 95
    with pytest.raises(TypeError, match="missing media codec found for RTX PT 97"):
        ortc.get_producer_rtp_parameters_mapping(params, router_caps(VP8))

    params["codecs"].append(
        {"mimeType": "video/rtx", "payloadType": 95, "clockRate": 90000, "parameters": {"apt": 97}}
    )
    with pytest.raises(TypeError, match="points to a RTX codec"):
        ortc.get_producer_rtp_parameters_mapping(params, router_caps(VP8))


def test_producer_mapping_needs_router_rtx_for_producer_rtx() -> None:
    caps = router_caps(VP8)
    caps["codecs"] = [codec for codec in caps["codecs"] if codec["mimeType"] != "video/rtx"]
    with pytest.raises(UnsupportedError, match="no RTX codec"):
        ortc.get_producer_rtp_parameters_mapping(copy.deepcopy(CHROME_VP8_SIMULCAST), caps)


def h264_params(parameters: dict[str, Any]) -> Any:
    return {
        "codecs": [
            {"mimeType": "video/H264", "payloadType": 102, "clockRate": 90000, "parameters": parameters}
        ],
        "encodings": [{"ssrc": 1}],
    }


@pytest.mark.parametrize(
    ("producer_parameters", "negotiated"),
    [
        # Both sides allow level asymmetry: the producer keeps its own level (5.2).
        ({"packetization-mode": 1, "profile-level-id": "42e034", "level-asymmetry-allowed": 1}, "42e034"),
        # No asymmetry: the lower of the two levels (router's 3.1).
        ({"packetization-mode": 1, "profile-level-id": "42e034"}, "42e01f"),
        ({"packetization-mode": 1, "profile-level-id": "42e00a"}, "42e00a"),
        # Baseline with constraint_set1 is Constrained Baseline too; answered in canonical form.
        ({"packetization-mode": 1, "profile-level-id": "42c01f", "level-asymmetry-allowed": "1"}, "42e01f"),
        # Level 1b.
        ({"packetization-mode": 1, "profile-level-id": "42f00b"}, "42f00b"),
        # No profile-level-id: default Constrained Baseline 3.1.
        ({"packetization-mode": 1}, "42e01f"),
    ],
)
def test_producer_mapping_negotiates_h264_profile_level_id(
    producer_parameters: dict[str, Any], negotiated: str
) -> None:
    params = h264_params(producer_parameters)
    ortc.get_producer_rtp_parameters_mapping(params, router_caps(H264))
    assert params["codecs"][0]["parameters"]["profile-level-id"] == negotiated


@pytest.mark.parametrize(
    "producer_parameters",
    [
        {"packetization-mode": 1, "profile-level-id": "640032"},  # High profile
        {"packetization-mode": 0, "profile-level-id": "42e01f"},  # other packetization mode
        {"packetization-mode": 1, "profile-level-id": "42e0zz"},  # not hex
        {"packetization-mode": 1, "profile-level-id": "42e0ff"},  # unknown level
        {"packetization-mode": 1, "profile-level-id": 4325407},  # not a string
    ],
)
def test_producer_mapping_rejects_incompatible_h264(producer_parameters: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedError):
        ortc.get_producer_rtp_parameters_mapping(h264_params(producer_parameters), router_caps(H264))


def test_producer_mapping_checks_vp9_profile_id() -> None:
    caps = router_caps(
        {"kind": "video", "mimeType": "video/VP9", "clockRate": 90000, "parameters": {"profile-id": 2}}
    )
    profile0: Any = {"codecs": [{"mimeType": "video/VP9", "payloadType": 98, "clockRate": 90000}]}
    profile2: Any = copy.deepcopy(profile0)
    profile0["codecs"][0]["parameters"] = {"profile-id": 0}
    profile2["codecs"][0]["parameters"] = {"profile-id": 2}
    with pytest.raises(UnsupportedError):
        ortc.get_producer_rtp_parameters_mapping(profile0, caps)
    mapping = ortc.get_producer_rtp_parameters_mapping(profile2, caps)
    assert mapping["codecs"] == [{"payloadType": 98, "mappedPayloadType": 100}]


def test_consumable_parameters_for_chrome_opus(fixed_random: list[int]) -> None:
    params, _mapping, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router_caps(FLYLIVE_OPUS))

    assert consumable == {
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": 100,
                "clockRate": 48000,
                "channels": 2,
                # The Producer's own parameters are kept.
                "parameters": {"minptime": 10, "useinbandfec": 1, "sprop-stereo": 1, "usedtx": 1},
                "rtcpFeedback": [
                    {"type": "nack", "parameter": ""},
                    {"type": "transport-cc", "parameter": ""},
                ],
            }
        ],
        # Router extensions for audio that it can send; abs-capture-time only if the Producer sends it.
        "headerExtensions": [
            {"uri": MID, "id": 1, "encrypt": False, "parameters": {}},
            {"uri": ABS_SEND_TIME, "id": 4, "encrypt": False, "parameters": {}},
            {"uri": AUDIO_LEVEL, "id": 6, "encrypt": False, "parameters": {}},
            {"uri": PLAYOUT_DELAY, "id": 11, "encrypt": False, "parameters": {}},
            {"uri": PACKET_ID, "id": 12, "encrypt": False, "parameters": {}},
        ],
        "encodings": [{"ssrc": MAPPED_SSRC, "dtx": False}],
        "rtcp": {"cname": "kdnw4Z5fmQZ+Lmx4", "reducedSize": True},
    }
    assert consumable["codecs"][0]["parameters"] is not params["codecs"][0]["parameters"]


def test_consumable_parameters_keep_abs_capture_time_when_the_producer_sends_it() -> None:
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)
    params["headerExtensions"].append({"uri": ABS_CAPTURE_TIME, "id": 9})
    params["msid"] = "stream-id track-id"
    _, _, consumable = produce("audio", params, router_caps(FLYLIVE_OPUS))
    assert [ext["id"] for ext in consumable["headerExtensions"]] == [1, 4, 6, 10, 11, 12]
    assert consumable["msid"] == "stream-id track-id"


def test_consumable_parameters_for_simulcast_vp8(fixed_random: list[int]) -> None:
    _, _, consumable = produce("video", CHROME_VP8_SIMULCAST, router_caps(FLYLIVE_OPUS, VP8))

    assert [(c["mimeType"], c["payloadType"]) for c in consumable["codecs"]] == [
        ("video/VP8", 101),
        ("video/rtx", 102),
    ]
    assert consumable["codecs"][1] == {
        "mimeType": "video/rtx",
        "payloadType": 102,
        "clockRate": 90000,
        "parameters": {"apt": 101},
        "rtcpFeedback": [],
    }
    assert [ext["id"] for ext in consumable["headerExtensions"]] == [1, 4, 5, 8, 9, 11, 12]
    # rid/rtx are gone and SSRCs are the mapped ones.
    assert consumable["encodings"] == [
        {"ssrc": MAPPED_SSRC, "maxBitrate": 100000, "scalabilityMode": "L1T3", "dtx": False},
        {"ssrc": MAPPED_SSRC + 1, "maxBitrate": 300000, "scalabilityMode": "L1T3", "dtx": False},
        {"ssrc": MAPPED_SSRC + 2, "maxBitrate": 900000, "scalabilityMode": "L1T3", "dtx": False},
    ]


def test_consumable_parameters_reject_inconsistent_mapping() -> None:
    caps = router_caps(FLYLIVE_OPUS)
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)
    mapping = ortc.get_producer_rtp_parameters_mapping(params, caps)
    with pytest.raises(TypeError, match="invalid kind"):
        ortc.get_consumable_rtp_parameters("data", params, caps, mapping)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="encodings do not match"):
        ortc.get_consumable_rtp_parameters(
            "audio", params, caps, {"codecs": mapping["codecs"], "encodings": []}
        )
    with pytest.raises(TypeError, match="no mapped Router codec"):
        ortc.get_consumable_rtp_parameters(
            "audio", params, caps, {"codecs": [], "encodings": mapping["encodings"]}
        )


# --------------------------------------------------------------------------------------------------------
# can_consume
# --------------------------------------------------------------------------------------------------------


def test_can_consume() -> None:
    caps = router_caps(FLYLIVE_OPUS, VP8)
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, caps)
    _, _, video_consumable = produce("video", CHROME_VP8_SIMULCAST, caps)
    pcmu_only: Any = {
        "codecs": [{"kind": "audio", "mimeType": "audio/PCMU", "preferredPayloadType": 0, "clockRate": 8000}]
    }
    mono_opus: Any = {"codecs": [dict(LISTENER_CAPS["codecs"][0], channels=1)]}
    only_rtx: Any = {"codecs": [caps["codecs"][2]]}

    assert ortc.can_consume(consumable, LISTENER_CAPS) is True
    assert ortc.can_consume(consumable, caps) is True
    assert ortc.can_consume(consumable, pcmu_only) is False
    assert ortc.can_consume(consumable, mono_opus) is False
    assert ortc.can_consume(consumable, {}) is False
    assert ortc.can_consume(video_consumable, LISTENER_CAPS) is False
    assert ortc.can_consume(video_consumable, only_rtx) is False


def test_can_consume_does_not_modify_its_arguments() -> None:
    caps = router_caps(FLYLIVE_OPUS)
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, caps)
    remote: Any = {"codecs": [{"mimeType": "audio/opus", "clockRate": 48000, "channels": 2, "kind": "video"}]}
    before = (copy.deepcopy(consumable), copy.deepcopy(remote))
    assert ortc.can_consume(consumable, remote) is True
    assert (consumable, remote) == before


@pytest.mark.parametrize(
    "caps", [None, "caps", [], {"codecs": "opus"}, {"codecs": [{"mimeType": "audio/opus"}]}]
)
def test_can_consume_rejects_malformed_capabilities(caps: Any) -> None:
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router_caps(FLYLIVE_OPUS))
    with pytest.raises(TypeError):
        ortc.can_consume(consumable, caps)


# --------------------------------------------------------------------------------------------------------
# Consumer parameters
# --------------------------------------------------------------------------------------------------------


def test_consumer_parameters_for_a_listener(fixed_random: list[int]) -> None:
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router_caps(FLYLIVE_OPUS))
    before = copy.deepcopy(consumable)

    consumer = ortc.get_consumer_rtp_parameters(
        consumable_rtp_parameters=consumable,
        remote_rtp_capabilities=LISTENER_CAPS,
        pipe=False,
        enable_rtx=False,
    )

    assert consumer == {
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": 100,
                "clockRate": 48000,
                "channels": 2,
                "parameters": {"minptime": 10, "useinbandfec": 1, "sprop-stereo": 1, "usedtx": 1},
                # Remote's feedback, minus plain NACK (no RTX) and transport-cc (no transport-cc extension).
                "rtcpFeedback": [],
            }
        ],
        # Only the extensions the remote supports with the same id.
        "headerExtensions": [
            {"uri": MID, "id": 1, "encrypt": False, "parameters": {}},
            {"uri": ABS_SEND_TIME, "id": 4, "encrypt": False, "parameters": {}},
            {"uri": AUDIO_LEVEL, "id": 6, "encrypt": False, "parameters": {}},
        ],
        "encodings": [{"ssrc": fixed_random[-1]}],
        "rtcp": {"cname": "kdnw4Z5fmQZ+Lmx4", "reducedSize": True},
    }
    assert "mid" not in consumer
    assert consumable == before


def test_consumer_parameters_drop_extensions_with_other_ids() -> None:
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router_caps(FLYLIVE_OPUS))
    remote = copy.deepcopy(LISTENER_CAPS)
    remote["headerExtensions"][2]["preferredId"] = 3  # audio level under another id
    consumer = ortc.get_consumer_rtp_parameters(
        consumable_rtp_parameters=consumable, remote_rtp_capabilities=remote, pipe=False, enable_rtx=True
    )
    assert [ext["uri"] for ext in consumer["headerExtensions"]] == [MID, ABS_SEND_TIME]
    # With RTX enabled plain NACK stays; transport-cc still goes (no transport-cc extension).
    assert consumer["codecs"][0]["rtcpFeedback"] == [{"type": "nack", "parameter": ""}]


def test_consumer_ssrc_is_random_in_mediasoup_range() -> None:
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router_caps(FLYLIVE_OPUS))
    ssrcs = {
        ortc.get_consumer_rtp_parameters(
            consumable_rtp_parameters=consumable,
            remote_rtp_capabilities=LISTENER_CAPS,
            pipe=False,
            enable_rtx=False,
        )["encodings"][0]["ssrc"]
        for _ in range(20)
    }
    assert len(ssrcs) > 1
    assert all(100_000_000 <= ssrc < 999_999_999 for ssrc in ssrcs)


def test_consumer_without_compatible_codec_is_unsupported() -> None:
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router_caps(FLYLIVE_OPUS))
    pcmu_only: Any = {
        "codecs": [{"kind": "audio", "mimeType": "audio/PCMU", "preferredPayloadType": 0, "clockRate": 8000}]
    }
    with pytest.raises(UnsupportedError, match="no compatible media codecs"):
        ortc.get_consumer_rtp_parameters(
            consumable_rtp_parameters=consumable,
            remote_rtp_capabilities=pcmu_only,
            pipe=False,
            enable_rtx=False,
        )


def test_video_consumer_normal_vs_pipe(fixed_random: list[int]) -> None:
    caps = router_caps(FLYLIVE_OPUS, VP8)
    _, _, consumable = produce("video", CHROME_VP8_SIMULCAST, caps)
    remote = copy.deepcopy(caps)  # a browser with the Router's own capabilities

    normal = ortc.get_consumer_rtp_parameters(
        consumable_rtp_parameters=consumable, remote_rtp_capabilities=remote, pipe=False, enable_rtx=True
    )
    ssrc = fixed_random[-1]
    # Simulcast collapses into one encoding whose spatial layers are the streams.
    assert normal["encodings"] == [
        {"ssrc": ssrc, "rtx": {"ssrc": ssrc + 1}, "scalabilityMode": "L3T3", "maxBitrate": 900000}
    ]
    assert [c["mimeType"] for c in normal["codecs"]] == ["video/VP8", "video/rtx"]
    # transport-cc is negotiated, so REMB goes.
    assert normal["codecs"][0]["rtcpFeedback"] == [
        {"type": "nack", "parameter": ""},
        {"type": "nack", "parameter": "pli"},
        {"type": "ccm", "parameter": "fir"},
        {"type": "transport-cc", "parameter": ""},
    ]

    piped = ortc.get_consumer_rtp_parameters(
        consumable_rtp_parameters=consumable, remote_rtp_capabilities=remote, pipe=True, enable_rtx=True
    )
    base, base_rtx = fixed_random[-2], fixed_random[-1]
    # A pipe Consumer keeps every encoding, with consecutive SSRCs.
    assert piped["encodings"] == [
        {
            "ssrc": base,
            "rtx": {"ssrc": base_rtx},
            "maxBitrate": 100000,
            "scalabilityMode": "L1T3",
            "dtx": False,
        },
        {
            "ssrc": base + 1,
            "rtx": {"ssrc": base_rtx + 1},
            "maxBitrate": 300000,
            "scalabilityMode": "L1T3",
            "dtx": False,
        },
        {
            "ssrc": base + 2,
            "rtx": {"ssrc": base_rtx + 2},
            "maxBitrate": 900000,
            "scalabilityMode": "L1T3",
            "dtx": False,
        },
    ]

    no_rtx = ortc.get_consumer_rtp_parameters(
        consumable_rtp_parameters=consumable, remote_rtp_capabilities=remote, pipe=False, enable_rtx=False
    )
    assert [c["mimeType"] for c in no_rtx["codecs"]] == ["video/VP8"]
    assert "rtx" not in no_rtx["encodings"][0]
    assert {"type": "nack", "parameter": ""} not in no_rtx["codecs"][0]["rtcpFeedback"]


def test_video_consumer_uses_remb_without_transport_cc() -> None:
    caps = router_caps(VP8)
    _, _, consumable = produce("video", CHROME_VP8_SIMULCAST, caps)
    remote = copy.deepcopy(caps)
    remote["headerExtensions"] = [ext for ext in remote["headerExtensions"] if ext["uri"] != TWCC]
    consumer = ortc.get_consumer_rtp_parameters(
        consumable_rtp_parameters=consumable, remote_rtp_capabilities=remote, pipe=False, enable_rtx=True
    )
    assert [fb["type"] for fb in consumer["codecs"][0]["rtcpFeedback"]] == [
        "nack",
        "nack",
        "ccm",
        "goog-remb",
    ]

    remote["headerExtensions"] = []
    consumer = ortc.get_consumer_rtp_parameters(
        consumable_rtp_parameters=consumable, remote_rtp_capabilities=remote, pipe=False, enable_rtx=True
    )
    assert [fb["type"] for fb in consumer["codecs"][0]["rtcpFeedback"]] == ["nack", "nack", "ccm"]
    assert consumer["headerExtensions"] == []


def test_pipe_consumer_parameters(fixed_random: list[int]) -> None:
    _, _, consumable = produce("video", CHROME_VP8_SIMULCAST, router_caps(VP8))

    piped = ortc.get_pipe_consumer_rtp_parameters(consumable_rtp_parameters=consumable)

    assert piped["codecs"] == [
        {
            "mimeType": "video/VP8",
            "payloadType": 100,
            "clockRate": 90000,
            "parameters": {},
            "rtcpFeedback": [{"type": "nack", "parameter": "pli"}, {"type": "ccm", "parameter": "fir"}],
        }
    ]
    # No MID or BWE extensions through a pipe; dependency descriptor added, sorted by id.
    assert [(ext["uri"], ext["id"]) for ext in piped["headerExtensions"]] == [
        (DEPENDENCY_DESCRIPTOR, 7),
        (VIDEO_ORIENTATION, 8),
        (TOFFSET, 9),
        (PLAYOUT_DELAY, 11),
        (PACKET_ID, 12),
    ]
    base = fixed_random[-2]
    assert [enc["ssrc"] for enc in piped["encodings"]] == [base, base + 1, base + 2]
    assert all("rtx" not in enc for enc in piped["encodings"])
    assert piped["rtcp"] == {"cname": "webcam-cname", "reducedSize": True}

    with_rtx = ortc.get_pipe_consumer_rtp_parameters(consumable_rtp_parameters=consumable, enable_rtx=True)
    assert [c["mimeType"] for c in with_rtx["codecs"]] == ["video/VP8", "video/rtx"]
    assert with_rtx["codecs"][0]["rtcpFeedback"][0] == {"type": "nack", "parameter": ""}
    base_rtx = fixed_random[-1]
    assert [enc["rtx"] for enc in with_rtx["encodings"]] == [{"ssrc": base_rtx + i} for i in range(3)]


def test_audio_pipe_consumer_keeps_audio_level() -> None:
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router_caps(FLYLIVE_OPUS))
    piped = ortc.get_pipe_consumer_rtp_parameters(consumable_rtp_parameters=consumable)
    # mediasoup adds the dependency descriptor whatever the kind.
    assert [ext["id"] for ext in piped["headerExtensions"]] == [6, 7, 11, 12]
    assert piped["codecs"][0]["rtcpFeedback"] == []
    assert len(piped["encodings"]) == 1


# --------------------------------------------------------------------------------------------------------
# Validation and normalisation
# --------------------------------------------------------------------------------------------------------


def test_validate_rtp_parameters_normalises_in_place() -> None:
    params: dict[str, Any] = {
        "mid": None,
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": 111,
                "clockRate": 48000,
                "rtcpFeedback": [{"type": "nack"}],
            },
            {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000, "channels": 2, "foo": "bar"},
        ],
        "encodings": [{"ssrc": 1, "rid": None, "active": True}],
        "headerExtensions": [{"uri": MID, "id": 1}],
        "rtcp": {"cname": "c", "reducedSize": False, "mux": True},
    }
    ortc.validate_rtp_parameters(params)
    assert params == {
        "codecs": [
            {
                "mimeType": "audio/opus",
                "payloadType": 111,
                "clockRate": 48000,
                "channels": 1,
                "parameters": {},
                "rtcpFeedback": [{"type": "nack", "parameter": ""}],
            },
            {
                "mimeType": "video/VP8",
                "payloadType": 96,
                "clockRate": 90000,
                "parameters": {},
                "rtcpFeedback": [],
            },
        ],
        "encodings": [{"ssrc": 1, "dtx": False}],
        "headerExtensions": [{"uri": MID, "id": 1, "encrypt": False, "parameters": {}}],
        # mediasoup always uses reduced-size RTCP.
        "rtcp": {"cname": "c", "reducedSize": True},
    }
    again = copy.deepcopy(params)
    ortc.validate_rtp_parameters(again)
    assert again == params


def test_validate_rtp_capabilities_normalises_in_place() -> None:
    caps: dict[str, Any] = {
        "codecs": [{"kind": "video", "mimeType": "AUDIO/opus", "clockRate": 48000, "channels": 2}],
        "headerExtensions": [{"kind": "audio", "uri": MID, "preferredId": 1}],
    }
    ortc.validate_rtp_capabilities(caps)
    assert caps == {
        "codecs": [
            {
                "kind": "audio",  # taken from the mimeType
                "mimeType": "AUDIO/opus",
                "clockRate": 48000,
                "channels": 2,
                "parameters": {},
                "rtcpFeedback": [],
            }
        ],
        "headerExtensions": [
            {
                "kind": "audio",
                "uri": MID,
                "preferredId": 1,
                "preferredEncrypt": False,
                "direction": "sendrecv",
            }
        ],
    }
    empty: dict[str, Any] = {}
    ortc.validate_rtp_capabilities(empty)
    assert empty == {"codecs": [], "headerExtensions": []}


@pytest.mark.parametrize(
    ("given_params", "normalised"),
    [
        ({"streamId": 1}, {"streamId": 1, "ordered": True}),
        ({"streamId": 2, "maxRetransmits": 3}, {"streamId": 2, "maxRetransmits": 3, "ordered": False}),
        (
            {"streamId": 3, "ordered": False, "maxPacketLifeTime": 5},
            {"streamId": 3, "ordered": False, "maxPacketLifeTime": 5},
        ),
        ({"streamId": 4, "maxRetransmits": 0}, {"streamId": 4, "maxRetransmits": 0, "ordered": True}),
    ],
)
def test_validate_sctp_stream_parameters(given_params: dict[str, Any], normalised: dict[str, Any]) -> None:
    ortc.validate_sctp_stream_parameters(given_params)
    assert given_params == normalised


@pytest.mark.parametrize(
    "sctp",
    [
        {"streamId": 1, "maxPacketLifeTime": 5, "maxRetransmits": 2},
        {"streamId": 1, "ordered": True, "maxRetransmits": 2},
        {"streamId": "1"},
        {"streamId": 70000},
        {"streamId": 1, "ordered": "yes"},
        None,
    ],
)
def test_validate_sctp_stream_parameters_rejects(sctp: Any) -> None:
    with pytest.raises(TypeError):
        ortc.validate_sctp_stream_parameters(sctp)


def opus_params(**codec_changes: Any) -> Any:
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)
    params["codecs"][0].update(codec_changes)
    return params


def with_key(key: str, value: Any) -> Any:
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)
    params[key] = value
    return params


def with_encoding(**changes: Any) -> Any:
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)
    params["encodings"][0].update(changes)
    return params


def with_extension(**changes: Any) -> Any:
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)
    params["headerExtensions"][0].update(changes)
    return params


def fresh(value: Any, depth: int = 0) -> Any:
    """A copy to hand to an in-place validator; shares what is nested deeper than any RTP shape."""
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {key: fresh(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [fresh(item, depth + 1) for item in value]
    return value


def deeply_nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


MALFORMED_RTP_PARAMETERS: list[Any] = [
    None,
    "rtp",
    [],
    42,
    {},
    {"codecs": None},
    {"codecs": "opus"},
    {"codecs": {"mimeType": "audio/opus"}},
    {"codecs": [None]},
    {"codecs": ["audio/opus"]},
    opus_params(mimeType=None),
    opus_params(mimeType=""),
    opus_params(mimeType=5),
    opus_params(mimeType="opus"),
    opus_params(mimeType="text/opus"),
    opus_params(payloadType=None),
    opus_params(payloadType="111"),
    opus_params(payloadType=True),
    opus_params(payloadType=111.0),
    opus_params(payloadType=128),
    opus_params(payloadType=-1),
    opus_params(clockRate=None),
    opus_params(clockRate="48000"),
    opus_params(clockRate=0),
    opus_params(clockRate=2**32),
    opus_params(channels="2"),
    opus_params(channels=0),
    opus_params(channels=[2]),
    opus_params(parameters=[]),
    opus_params(parameters="useinbandfec=1"),
    opus_params(parameters={"useinbandfec": None}),
    opus_params(parameters={"useinbandfec": True}),
    opus_params(parameters={"useinbandfec": [1]}),
    opus_params(parameters={"useinbandfec": {"a": 1}}),
    opus_params(parameters={"useinbandfec": 2**40}),
    opus_params(parameters={"useinbandfec": math.nan}),
    opus_params(parameters={"useinbandfec": math.inf}),
    opus_params(parameters={1: 1}),
    opus_params(parameters={"apt": "111"}),
    opus_params(rtcpFeedback="nack"),
    opus_params(rtcpFeedback={"type": "nack"}),
    opus_params(rtcpFeedback=[None]),
    opus_params(rtcpFeedback=[{}]),
    opus_params(rtcpFeedback=[{"type": ""}]),
    opus_params(rtcpFeedback=[{"type": 5}]),
    opus_params(rtcpFeedback=[{"type": "nack", "parameter": 5}]),
    with_key("mid", 0),
    with_key("mid", ["0"]),
    with_key("msid", 5),
    with_key("headerExtensions", "mid"),
    with_key("headerExtensions", {"uri": MID, "id": 1}),
    with_key("headerExtensions", [None]),
    with_extension(uri=None),
    with_extension(uri=""),
    with_extension(uri=["x"]),
    with_extension(id=None),
    with_extension(id=0),
    with_extension(id=256),
    with_extension(id="4"),
    with_extension(encrypt="no"),
    with_extension(parameters=[]),
    with_extension(parameters={"a": None}),
    with_key("encodings", {}),
    with_key("encodings", "ssrc"),
    with_key("encodings", [5]),
    with_encoding(ssrc="2841385637"),
    with_encoding(ssrc=-1),
    with_encoding(ssrc=2**32),
    with_encoding(ssrc=2**5000),
    with_encoding(rid=1),
    with_encoding(codecPayloadType="111"),
    with_encoding(rtx=5),
    with_encoding(rtx={}),
    with_encoding(rtx={"ssrc": "1"}),
    with_encoding(dtx="false"),
    with_encoding(scalabilityMode=3),
    with_encoding(maxBitrate=-1),
    with_encoding(maxBitrate=1.5),
    with_key("rtcp", "cname"),
    with_key("rtcp", []),
    with_key("rtcp", {"cname": 5}),
    with_key("rtcp", {"reducedSize": "yes"}),
    with_key("codecs", deeply_nested(5000)),
]

MALFORMED_RTP_CAPABILITIES: list[Any] = [
    None,
    "caps",
    [],
    {"codecs": "opus"},
    {"codecs": [None]},
    {"codecs": [{"kind": "audio", "mimeType": "audio/opus"}]},
    {"codecs": [{"mimeType": "audio/opus", "clockRate": 48000, "preferredPayloadType": "100"}]},
    {"codecs": [{"mimeType": "audio/opus", "clockRate": 48000, "preferredPayloadType": 200}]},
    {"codecs": [{"mimeType": "audio", "clockRate": 48000}]},
    {"headerExtensions": "mid"},
    {"headerExtensions": [None]},
    {"headerExtensions": [{"kind": "data", "uri": MID, "preferredId": 1}]},
    {"headerExtensions": [{"kind": "audio", "preferredId": 1}]},
    {"headerExtensions": [{"kind": "audio", "uri": MID}]},
    {"headerExtensions": [{"kind": "audio", "uri": MID, "preferredId": 1, "preferredEncrypt": 1}]},
    {"headerExtensions": [{"kind": "audio", "uri": MID, "preferredId": 1, "direction": "both"}]},
    {"headerExtensions": [{"kind": "audio", "uri": MID, "preferredId": 1, "direction": ["sendrecv"]}]},
    {"codecs": deeply_nested(5000)},
]


@pytest.mark.parametrize("params", MALFORMED_RTP_PARAMETERS)
def test_malformed_rtp_parameters_raise_type_error(params: Any) -> None:
    caps = router_caps(FLYLIVE_OPUS)
    with pytest.raises(TypeError) as raised:
        ortc.validate_rtp_parameters(fresh(params))
    assert len(str(raised.value)) < 200
    with pytest.raises(TypeError):
        ortc.parse_rtp_parameters(params)
    with pytest.raises(TypeError):
        ortc.get_producer_rtp_parameters_mapping(fresh(params), caps)
    with pytest.raises(TypeError):
        ortc.get_pipe_consumer_rtp_parameters(consumable_rtp_parameters=params)
    with pytest.raises(TypeError):
        ortc.get_consumer_rtp_parameters(
            consumable_rtp_parameters=params, remote_rtp_capabilities=caps, pipe=False, enable_rtx=False
        )


@pytest.mark.parametrize("caps", MALFORMED_RTP_CAPABILITIES)
def test_malformed_rtp_capabilities_raise_type_error(caps: Any) -> None:
    router = router_caps(FLYLIVE_OPUS)
    _, _, consumable = produce("audio", CHROME_OPUS_RTP_PARAMETERS, router)
    with pytest.raises(TypeError):
        ortc.validate_rtp_capabilities(fresh(caps))
    with pytest.raises(TypeError):
        ortc.can_consume(consumable, caps)
    with pytest.raises(TypeError):
        ortc.get_consumer_rtp_parameters(
            consumable_rtp_parameters=consumable, remote_rtp_capabilities=caps, pipe=False, enable_rtx=False
        )
    with pytest.raises(TypeError):
        ortc.get_producer_rtp_parameters_mapping(copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS), caps)


@pytest.mark.parametrize(
    "media_codecs",
    [
        "audio/opus",
        {"mimeType": "audio/opus"},
        [None],
        [{"mimeType": "audio/opus", "clockRate": "48000", "channels": 2}],
        [dict(FLYLIVE_OPUS, preferredPayloadType="100")],
        [dict(FLYLIVE_OPUS, parameters={"useinbandfec": None})],
    ],
)
def test_malformed_media_codecs_raise_type_error(media_codecs: Any) -> None:
    with pytest.raises(TypeError):
        ortc.generate_router_rtp_capabilities(media_codecs)


@pytest.mark.parametrize(
    "mapping",
    [
        None,
        {},
        {"codecs": [], "encodings": None},
        {"codecs": [None], "encodings": []},
        {"codecs": [{}], "encodings": []},
    ],
)
def test_malformed_mapping_raises_type_error(mapping: Any) -> None:
    caps = router_caps(FLYLIVE_OPUS)
    params = copy.deepcopy(CHROME_OPUS_RTP_PARAMETERS)
    with pytest.raises(TypeError):
        ortc.get_consumable_rtp_parameters("audio", params, caps, mapping)


# --------------------------------------------------------------------------------------------------------
# Arbitrary JSON only ever raises TypeError / ValueError / UnsupportedError
# --------------------------------------------------------------------------------------------------------

ALLOWED_ERRORS = (TypeError, ValueError, UnsupportedError)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        ["", "audio/opus", "video/rtx", "video/H264", "42e01f", "nack", MID, "sendrecv", "L3T3"]
    )
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, template: Any) -> Any:
    """A valid document with a few nodes replaced by (or dropped for) arbitrary JSON."""
    document = copy.deepcopy(template)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths(document)))
        if not path:
            return draw(json_values)
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return document


ROUTER_CAPS = ortc.generate_router_rtp_capabilities(
    [copy.deepcopy(FLYLIVE_OPUS), copy.deepcopy(VP8), copy.deepcopy(H264)]
)
_, GOOD_MAPPING, GOOD_CONSUMABLE = produce("video", CHROME_VP8_SIMULCAST, ROUTER_CAPS)

rtp_parameters_inputs = (
    json_values
    | mutated(CHROME_OPUS_RTP_PARAMETERS)
    | mutated(CHROME_VP8_SIMULCAST)
    | mutated(h264_params({"packetization-mode": 1, "profile-level-id": "42e01f"}))
    | mutated(GOOD_CONSUMABLE)
)
rtp_capabilities_inputs = json_values | mutated(LISTENER_CAPS) | mutated(ROUTER_CAPS)


def only_allowed_errors(call: Any) -> None:
    with contextlib.suppress(*ALLOWED_ERRORS):
        call()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=rtp_parameters_inputs, caps=rtp_capabilities_inputs, mapping=json_values | mutated(GOOD_MAPPING)
)
def test_arbitrary_input_raises_only_allowed_errors(params: Any, caps: Any, mapping: Any) -> None:
    only_allowed_errors(lambda: ortc.validate_rtp_parameters(copy.deepcopy(params)))
    only_allowed_errors(lambda: ortc.validate_rtp_capabilities(copy.deepcopy(caps)))
    only_allowed_errors(lambda: ortc.validate_sctp_stream_parameters(copy.deepcopy(params)))
    only_allowed_errors(
        lambda: ortc.generate_router_rtp_capabilities(
            copy.deepcopy(caps).get("codecs") if isinstance(caps, dict) else caps
        )
    )
    only_allowed_errors(lambda: ortc.get_producer_rtp_parameters_mapping(copy.deepcopy(params), ROUTER_CAPS))
    only_allowed_errors(
        lambda: ortc.get_producer_rtp_parameters_mapping(copy.deepcopy(CHROME_VP8_SIMULCAST), caps)
    )
    only_allowed_errors(
        lambda: ortc.get_consumable_rtp_parameters("video", copy.deepcopy(params), ROUTER_CAPS, mapping)
    )
    only_allowed_errors(
        lambda: ortc.get_consumable_rtp_parameters(
            "video", copy.deepcopy(CHROME_VP8_SIMULCAST), caps, GOOD_MAPPING
        )
    )
    only_allowed_errors(lambda: ortc.can_consume(params, caps))
    only_allowed_errors(lambda: ortc.can_consume(GOOD_CONSUMABLE, caps))
    for pipe in (False, True):
        only_allowed_errors(
            lambda pipe=pipe: ortc.get_consumer_rtp_parameters(
                consumable_rtp_parameters=params, remote_rtp_capabilities=caps, pipe=pipe, enable_rtx=True
            )
        )
        only_allowed_errors(
            lambda pipe=pipe: ortc.get_consumer_rtp_parameters(
                consumable_rtp_parameters=GOOD_CONSUMABLE,
                remote_rtp_capabilities=caps,
                pipe=pipe,
                enable_rtx=False,
            )
        )
    only_allowed_errors(
        lambda: ortc.get_pipe_consumer_rtp_parameters(consumable_rtp_parameters=params, enable_rtx=True)
    )


@settings(max_examples=200, deadline=None)
@given(params=mutated(CHROME_OPUS_RTP_PARAMETERS) | mutated(CHROME_VP8_SIMULCAST))
def test_whatever_validates_negotiates_to_worker_safe_values(params: Any) -> None:
    """Anything validation accepts maps and consumes without errors other than UnsupportedError."""
    try:
        ortc.validate_rtp_parameters(params)
    except TypeError:
        return
    audio = bool(params["codecs"]) and params["codecs"][0]["mimeType"].lower().startswith("audio")
    kind: Any = "audio" if audio else "video"
    try:
        mapping = ortc.get_producer_rtp_parameters_mapping(params, ROUTER_CAPS)
        consumable = ortc.get_consumable_rtp_parameters(kind, params, ROUTER_CAPS, mapping)
    except (UnsupportedError, TypeError):
        return
    for codec in consumable["codecs"]:
        assert 0 <= codec["payloadType"] <= 127
    for encoding in consumable.get("encodings", []):
        assert 0 <= encoding["ssrc"] < 2**32
    if ortc.can_consume(consumable, ROUTER_CAPS):
        consumer = ortc.get_consumer_rtp_parameters(
            consumable_rtp_parameters=consumable,
            remote_rtp_capabilities=ROUTER_CAPS,
            pipe=False,
            enable_rtx=True,
        )
        assert len(consumer["encodings"]) == 1

"""Payloads of the media events (contract 2.3-2.8, 2.14) and of the media events the server emits (3).

Like the baseline's zod objects: unknown keys are dropped, a wrong type or a
missing key rejects the whole payload, room ids are non-empty JSON strings.
`model_dump(exclude_none=True)` gives the mediasoup dict shapes back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, StrictBool, StrictStr

from apps.realtime.schema import JsInt, JsNumber, Payload, RoomId, Uuid

# A mediasoup `parameters` object: any JSON object (the library validates the values).
JsonObject = dict[str, Any]
_Model = Payload


# --- 2.14 mediasoup sub-schemas ---------------------------------------------------------------

class RtcpFeedback(_Model):
    type: StrictStr
    parameter: StrictStr | None = None


class RtpCodecParameters(_Model):
    mimeType: StrictStr
    payloadType: JsInt
    clockRate: JsInt
    channels: JsInt | None = None
    parameters: JsonObject | None = None
    rtcpFeedback: list[RtcpFeedback] | None = None


class RtpHeaderExtensionParameters(_Model):
    uri: StrictStr
    id: JsInt
    encrypt: StrictBool | None = None
    parameters: JsonObject | None = None


class RtxParameters(_Model):
    ssrc: JsInt


class RtpEncodingParameters(_Model):
    ssrc: JsInt | None = None
    rid: StrictStr | None = None
    codecPayloadType: JsInt | None = None
    rtx: RtxParameters | None = None
    dtx: StrictBool | None = None
    scalabilityMode: StrictStr | None = None
    scaleResolutionDownBy: JsNumber | None = None
    maxBitrate: JsInt | None = None


class RtcpParameters(_Model):
    cname: StrictStr | None = None
    reducedSize: StrictBool | None = None
    mux: StrictBool | None = None


class RtpParameters(_Model):
    mid: StrictStr | None = None
    codecs: list[RtpCodecParameters]
    headerExtensions: list[RtpHeaderExtensionParameters] | None = None
    encodings: list[RtpEncodingParameters] | None = None
    rtcp: RtcpParameters | None = None


class RtpCodecCapability(_Model):
    kind: Literal["audio", "video"]
    mimeType: StrictStr
    preferredPayloadType: JsInt | None = None
    clockRate: JsInt
    channels: JsInt | None = None
    parameters: JsonObject | None = None
    rtcpFeedback: list[RtcpFeedback] | None = None


class RtpHeaderExtensionCapability(_Model):
    kind: Literal["audio", "video"]
    uri: StrictStr
    preferredId: JsInt
    preferredEncrypt: StrictBool | None = None
    direction: Literal["sendrecv", "sendonly", "recvonly", "inactive"] | None = None


class RtpCapabilities(_Model):
    codecs: list[RtpCodecCapability]
    headerExtensions: list[RtpHeaderExtensionCapability] | None = None


class DtlsFingerprint(_Model):
    algorithm: StrictStr
    value: StrictStr


class DtlsParameters(_Model):
    role: Literal["auto", "client", "server"] | None = None
    fingerprints: list[DtlsFingerprint]


# --- 2.3-2.8 client -> server payloads -------------------------------------------------------

class TransportCreate(_Model):
    type: Literal["producer", "consumer"]
    roomId: RoomId


class TransportConnect(_Model):
    roomId: RoomId
    transportId: Uuid
    dtlsParameters: DtlsParameters


class AudioProduce(_Model):
    roomId: RoomId
    transportId: Uuid
    kind: Literal["audio"]
    rtpParameters: RtpParameters


class AudioConsume(_Model):
    roomId: RoomId
    transportId: Uuid
    producerId: Uuid
    rtpCapabilities: RtpCapabilities


class ConsumerResume(_Model):
    roomId: RoomId
    consumerId: Uuid


class SelfMute(_Model):
    roomId: RoomId
    producerId: Uuid


# --- 3: server -> client payloads (the only place their shapes are written) --------------------

class NewProducerEvent(_Model):
    producerId: str
    userId: int | float
    kind: Literal["audio"] = "audio"


class ProducerClosedEvent(_Model):
    producerId: str
    userId: int | float


class SpeakerActiveEvent(_Model):
    userId: int | float
    activeSpeakers: list[int | float]
    timestamp: int


class RoomClosedEvent(_Model):
    roomId: str
    reason: str
    timestamp: int


class SelfMutedEvent(_Model):
    userId: int | float
    isMuted: bool
    selfMuted: Literal[True] = True


def wire(model: BaseModel) -> dict[str, Any]:
    """A payload or parameter model as the JSON object mediasoup and clients expect (no nulls)."""
    return model.model_dump(mode="json", exclude_none=True)

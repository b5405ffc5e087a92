"""WebRtcTransport: ICE + DTLS + SRTP towards a WebRTC endpoint (a browser, aiortc, ...)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NotRequired, TypedDict

from FBS.Notification.Event import Event
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.WebRtcTransport.ConnectRequest import ConnectRequestT
from FBS.WebRtcTransport.DtlsParameters import DtlsParametersT
from FBS.WebRtcTransport.DtlsRole import DtlsRole as FbsDtlsRole
from FBS.WebRtcTransport.DtlsState import DtlsState as FbsDtlsState
from FBS.WebRtcTransport.Fingerprint import FingerprintT
from FBS.WebRtcTransport.FingerprintAlgorithm import FingerprintAlgorithm as FbsFingerprintAlgorithm
from FBS.WebRtcTransport.IceRole import IceRole as FbsIceRole
from FBS.WebRtcTransport.IceState import IceState as FbsIceState

from .channel import Channel
from .fbs_codec import text
from .listen_info import PROTOCOL_FROM_FBS, TransportProtocol
from .remote_object import AppData
from .transport import Transport, TransportTuple, tuple_from_fbs

if TYPE_CHECKING:
    from .router import Router

IceState = Literal["new", "connected", "completed", "disconnected", "closed"]
IceRole = Literal["controlled", "controlling"]
DtlsState = Literal["new", "connecting", "connected", "failed", "closed"]
DtlsRole = Literal["auto", "client", "server"]
FingerprintAlgorithm = Literal["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"]

ICE_STATE_FROM_FBS: dict[int, IceState] = {
    FbsIceState.NEW: "new",
    FbsIceState.CONNECTED: "connected",
    FbsIceState.COMPLETED: "completed",
    FbsIceState.DISCONNECTED: "disconnected",
}
ICE_ROLE_FROM_FBS: dict[int, IceRole] = {
    FbsIceRole.CONTROLLED: "controlled",
    FbsIceRole.CONTROLLING: "controlling",
}
DTLS_STATE_FROM_FBS: dict[int, DtlsState] = {
    FbsDtlsState.NEW: "new",
    FbsDtlsState.CONNECTING: "connecting",
    FbsDtlsState.CONNECTED: "connected",
    FbsDtlsState.FAILED: "failed",
    FbsDtlsState.CLOSED: "closed",
}
DTLS_ROLE_FROM_FBS: dict[int, DtlsRole] = {
    FbsDtlsRole.AUTO: "auto",
    FbsDtlsRole.CLIENT: "client",
    FbsDtlsRole.SERVER: "server",
}
DTLS_ROLE_TO_FBS: dict[str, int] = {name: value for value, name in DTLS_ROLE_FROM_FBS.items()}
FINGERPRINT_ALGORITHM_FROM_FBS: dict[int, FingerprintAlgorithm] = {
    FbsFingerprintAlgorithm.SHA1: "sha-1",
    FbsFingerprintAlgorithm.SHA224: "sha-224",
    FbsFingerprintAlgorithm.SHA256: "sha-256",
    FbsFingerprintAlgorithm.SHA384: "sha-384",
    FbsFingerprintAlgorithm.SHA512: "sha-512",
}
FINGERPRINT_ALGORITHM_TO_FBS: dict[str, int] = {
    name: value for value, name in FINGERPRINT_ALGORITHM_FROM_FBS.items()
}


class IceParameters(TypedDict):
    usernameFragment: str
    password: str
    iceLite: bool


class IceCandidate(TypedDict):
    foundation: str
    priority: int
    address: str
    ip: str  # mediasoup-client still reads `ip`
    protocol: TransportProtocol
    port: int
    type: Literal["host"]
    tcpType: NotRequired[Literal["passive"]]


class DtlsFingerprint(TypedDict):
    algorithm: FingerprintAlgorithm
    value: str


class DtlsParameters(TypedDict):
    fingerprints: list[DtlsFingerprint]
    role: NotRequired[DtlsRole]


def _ice_candidate(data: Any) -> IceCandidate:
    candidate = IceCandidate(
        foundation=text(data.foundation),
        priority=int(data.priority),
        address=text(data.address),
        ip=text(data.address),
        protocol=PROTOCOL_FROM_FBS.get(data.protocol, "udp"),
        port=int(data.port),
        type="host",
    )
    if data.tcpType is not None:
        candidate["tcpType"] = "passive"
    return candidate


def _dtls_parameters(data: Any) -> DtlsParameters:
    parameters = DtlsParameters(
        fingerprints=[
            DtlsFingerprint(algorithm=FINGERPRINT_ALGORITHM_FROM_FBS[f.algorithm], value=text(f.value))
            for f in data.fingerprints or []
        ]
    )
    if data.role is not None:
        parameters["role"] = DTLS_ROLE_FROM_FBS[data.role]
    return parameters


def dtls_parameters_to_fbs(parameters: DtlsParameters) -> DtlsParametersT:
    """Validate remote DTLS parameters; an empty fingerprint list is left for the worker to refuse."""
    if not isinstance(parameters, dict) or not isinstance(parameters.get("fingerprints"), list):
        raise TypeError("dtls_parameters must be a dict with a 'fingerprints' list")
    fingerprints: list[FingerprintT] = []
    for fingerprint in parameters["fingerprints"]:
        algorithm = fingerprint.get("algorithm") if isinstance(fingerprint, dict) else None
        value = fingerprint.get("value") if isinstance(fingerprint, dict) else None
        if algorithm not in FINGERPRINT_ALGORITHM_TO_FBS:
            raise TypeError(f"invalid DTLS fingerprint algorithm {algorithm!r}")
        if not isinstance(value, str) or not value:
            raise TypeError("DTLS fingerprint value must be a non-empty string")
        fingerprints.append(FingerprintT(algorithm=FINGERPRINT_ALGORITHM_TO_FBS[algorithm], value=value))
    role = parameters.get("role", "auto")
    if role not in DTLS_ROLE_TO_FBS:
        raise TypeError(f"invalid DTLS role {role!r}")
    return DtlsParametersT(fingerprints=fingerprints, role=DTLS_ROLE_TO_FBS[role])


class WebRtcTransport(Transport):
    """Adds events `icestatechange`, `iceselectedtuplechange`, `dtlsstatechange` (also on the observer)."""

    type: ClassVar[Literal["webrtc"]] = "webrtc"

    def __init__(
        self, *, channel: Channel, transport_id: str, router: Router, app_data: AppData | None, dump: Any
    ) -> None:
        super().__init__(channel=channel, transport_id=transport_id, router=router, app_data=app_data)
        self._ice_role: IceRole = ICE_ROLE_FROM_FBS.get(dump.iceRole, "controlled")
        self._ice_parameters = IceParameters(
            usernameFragment=text(dump.iceParameters.usernameFragment),
            password=text(dump.iceParameters.password),
            iceLite=bool(dump.iceParameters.iceLite),
        )
        self._ice_candidates = [_ice_candidate(c) for c in dump.iceCandidates or []]
        self._ice_state: IceState = ICE_STATE_FROM_FBS.get(dump.iceState, "new")
        self._ice_selected_tuple: TransportTuple | None = (
            tuple_from_fbs(dump.iceSelectedTuple) if dump.iceSelectedTuple is not None else None
        )
        self._dtls_parameters = _dtls_parameters(dump.dtlsParameters)
        self._dtls_state: DtlsState = DTLS_STATE_FROM_FBS.get(dump.dtlsState, "new")
        self._dtls_remote_cert: str | None = None

    @property
    def ice_role(self) -> IceRole:
        return self._ice_role

    @property
    def ice_parameters(self) -> IceParameters:
        return copy.deepcopy(self._ice_parameters)

    @property
    def ice_candidates(self) -> list[IceCandidate]:
        return copy.deepcopy(self._ice_candidates)

    @property
    def ice_state(self) -> IceState:
        return self._ice_state

    @property
    def ice_selected_tuple(self) -> TransportTuple | None:
        return copy.deepcopy(self._ice_selected_tuple)

    @property
    def dtls_parameters(self) -> DtlsParameters:
        return copy.deepcopy(self._dtls_parameters)

    @property
    def dtls_state(self) -> DtlsState:
        return self._dtls_state

    @property
    def dtls_remote_cert(self) -> str | None:
        return self._dtls_remote_cert

    def _teardown(self, event: str) -> bool:
        if self._torn_down:
            return False
        self._ice_state = "closed"
        self._ice_selected_tuple = None
        self._dtls_state = "closed"
        return super()._teardown(event)

    async def connect(self, *, dtls_parameters: DtlsParameters) -> None:
        """Give the worker the remote DTLS parameters (from the client's transport `connect`)."""
        body = ConnectRequestT(dtlsParameters=dtls_parameters_to_fbs(dtls_parameters))
        response = await self._request(
            Method.WEBRTCTRANSPORT_CONNECT, RequestBody.WebRtcTransport_ConnectRequest, body
        )
        self._dtls_parameters["role"] = DTLS_ROLE_FROM_FBS.get(response.dtlsLocalRole, "auto")

    async def restart_ice(self) -> IceParameters:
        response = await self._request(Method.TRANSPORT_RESTART_ICE)
        self._ice_parameters = IceParameters(
            usernameFragment=text(response.usernameFragment),
            password=text(response.password),
            iceLite=bool(response.iceLite),
        )
        return self.ice_parameters

    def _stats_extra(self, response: Any, stats: dict[str, Any]) -> dict[str, Any]:
        return {
            **stats,
            "iceRole": ICE_ROLE_FROM_FBS.get(response.iceRole, "controlled"),
            "iceState": ICE_STATE_FROM_FBS.get(response.iceState, "new"),
            "iceSelectedTuple": tuple_from_fbs(response.iceSelectedTuple)
            if response.iceSelectedTuple
            else None,
            "dtlsState": DTLS_STATE_FROM_FBS.get(response.dtlsState, "new"),
        }

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.WEBRTCTRANSPORT_ICE_STATE_CHANGE:
            self._ice_state = ICE_STATE_FROM_FBS.get(body.iceState, "new")
            self.emit("icestatechange", self._ice_state)
            self.observer.emit("icestatechange", self._ice_state)
        elif event == Event.WEBRTCTRANSPORT_ICE_SELECTED_TUPLE_CHANGE:
            self._ice_selected_tuple = tuple_from_fbs(body.tuple)
            self.emit("iceselectedtuplechange", self.ice_selected_tuple)
            self.observer.emit("iceselectedtuplechange", self.ice_selected_tuple)
        elif event == Event.WEBRTCTRANSPORT_DTLS_STATE_CHANGE:
            self._dtls_state = DTLS_STATE_FROM_FBS.get(body.dtlsState, "new")
            if self._dtls_state == "connected":
                self._dtls_remote_cert = text(body.remoteCert) or None
            self.emit("dtlsstatechange", self._dtls_state)
            self.observer.emit("dtlsstatechange", self._dtls_state)
        else:
            super()._on_notification(event, body)

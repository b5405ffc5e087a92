"""PlainTransport: plain RTP/RTCP over UDP (optionally SRTP), for bots, recorders and tests."""

from __future__ import annotations

import copy
import ipaddress
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from FBS.Notification.Event import Event
from FBS.PlainTransport.ConnectRequest import ConnectRequestT
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method

from .channel import Channel
from .remote_object import AppData
from .transport import (
    SrtpParameters,
    Transport,
    TransportTuple,
    srtp_parameters_from_fbs,
    srtp_parameters_to_fbs,
    tuple_from_fbs,
)

if TYPE_CHECKING:
    from .router import Router


def check_ip(ip: object) -> str:
    if not isinstance(ip, str):
        raise ValueError(f"ip must be an IP address string, got {ip!r}")
    try:
        ipaddress.ip_address(ip)
    except ValueError as error:
        raise ValueError(f"{ip!r} is not an IP address") from error
    return ip


def check_port(name: str, port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"{name} must be an integer in 1..65535, got {port!r}")
    return port


class PlainTransport(Transport):
    """Adds events `tuple` and `rtcptuple` (the remote address, learnt with comedia)."""

    type: ClassVar[Literal["plain"]] = "plain"

    def __init__(
        self, *, channel: Channel, transport_id: str, router: Router, app_data: AppData | None, dump: Any
    ) -> None:
        super().__init__(channel=channel, transport_id=transport_id, router=router, app_data=app_data)
        self._rtcp_mux = bool(dump.rtcpMux)
        self._comedia = bool(dump.comedia)
        self._tuple = tuple_from_fbs(dump.tuple)
        self._rtcp_tuple: TransportTuple | None = tuple_from_fbs(dump.rtcpTuple) if dump.rtcpTuple else None
        self._srtp_parameters = srtp_parameters_from_fbs(dump.srtpParameters)

    @property
    def tuple(self) -> TransportTuple:
        """Local address/port the worker listens on (and the remote one once known)."""
        return copy.deepcopy(self._tuple)

    @property
    def rtcp_tuple(self) -> TransportTuple | None:
        return copy.deepcopy(self._rtcp_tuple)

    @property
    def rtcp_mux(self) -> bool:
        return self._rtcp_mux

    @property
    def comedia(self) -> bool:
        return self._comedia

    @property
    def srtp_parameters(self) -> SrtpParameters | None:
        """The worker's SRTP key (what the remote side must decrypt with), when SRTP is on."""
        return copy.deepcopy(self._srtp_parameters)

    async def connect(
        self,
        *,
        ip: str | None = None,
        port: int | None = None,
        rtcp_port: int | None = None,
        srtp_parameters: SrtpParameters | None = None,
    ) -> None:
        """Tell the worker where the remote endpoint is (not needed with comedia) and its SRTP key."""
        body = ConnectRequestT(
            ip=check_ip(ip) if ip is not None else None,
            port=check_port("port", port) if port is not None else None,
            rtcpPort=check_port("rtcp_port", rtcp_port) if rtcp_port is not None else None,
            srtpParameters=srtp_parameters_to_fbs(srtp_parameters) if srtp_parameters is not None else None,
        )
        response = await self._request(
            Method.PLAINTRANSPORT_CONNECT, RequestBody.PlainTransport_ConnectRequest, body
        )
        if response.tuple is not None:
            self._tuple = tuple_from_fbs(response.tuple)
        if response.rtcpTuple is not None:
            self._rtcp_tuple = tuple_from_fbs(response.rtcpTuple)
        if response.srtpParameters is not None:
            self._srtp_parameters = srtp_parameters_from_fbs(response.srtpParameters)

    def _stats_type(self) -> str:
        return "plain-rtp-transport"

    def _stats_extra(self, response: Any, stats: dict[str, Any]) -> dict[str, Any]:
        return {
            **stats,
            "tuple": tuple_from_fbs(response.tuple),
            "rtcpTuple": tuple_from_fbs(response.rtcpTuple) if response.rtcpTuple else None,
        }

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.PLAINTRANSPORT_TUPLE:
            self._tuple = tuple_from_fbs(body.tuple)
            self.emit("tuple", self.tuple)
            self.observer.emit("tuple", self.tuple)
        elif event == Event.PLAINTRANSPORT_RTCP_TUPLE:
            self._rtcp_tuple = tuple_from_fbs(body.tuple)
            self.emit("rtcptuple", self.rtcp_tuple)
            self.observer.emit("rtcptuple", self.rtcp_tuple)
        else:
            super()._on_notification(event, body)

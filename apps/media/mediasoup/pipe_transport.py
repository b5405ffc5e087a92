"""PipeTransport: RTP between two routers (same or different workers, same or different hosts)."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from FBS.PipeTransport.ConnectRequest import ConnectRequestT
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method

from . import ortc
from .channel import Channel
from .consumer import Consumer
from .errors import NotFoundError
from .plain_transport import check_ip, check_port
from .remote_object import AppData
from .rtp_types import RtpCapabilities, RtpParameters
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


class PipeTransport(Transport):
    """A transport whose producers/consumers mirror those of a transport in another router."""

    type: ClassVar[Literal["pipe"]] = "pipe"

    def __init__(
        self, *, channel: Channel, transport_id: str, router: Router, app_data: AppData | None, dump: Any
    ) -> None:
        super().__init__(channel=channel, transport_id=transport_id, router=router, app_data=app_data)
        self._tuple = tuple_from_fbs(dump.tuple)
        self._rtx = bool(dump.rtx)
        self._srtp_parameters = srtp_parameters_from_fbs(dump.srtpParameters)

    @property
    def tuple(self) -> TransportTuple:
        return copy.deepcopy(self._tuple)

    @property
    def rtx(self) -> bool:
        return self._rtx

    @property
    def srtp_parameters(self) -> SrtpParameters | None:
        return copy.deepcopy(self._srtp_parameters)

    async def connect(self, *, ip: str, port: int, srtp_parameters: SrtpParameters | None = None) -> None:
        body = ConnectRequestT(
            ip=check_ip(ip),
            port=check_port("port", port),
            srtpParameters=srtp_parameters_to_fbs(srtp_parameters) if srtp_parameters is not None else None,
        )
        response = await self._request(
            Method.PIPETRANSPORT_CONNECT, RequestBody.PipeTransport_ConnectRequest, body
        )
        if response.tuple is not None:
            self._tuple = tuple_from_fbs(response.tuple)

    def _set_producer_cname(self, params: RtpParameters) -> None:
        # Through a pipe each producer keeps its own CNAME (its sender's clock); give one if missing.
        rtcp = params.setdefault("rtcp", {})
        if not rtcp.get("cname"):
            rtcp["cname"] = uuid.uuid4().hex[:8]

    async def consume(
        self,
        *,
        producer_id: str,
        rtp_capabilities: RtpCapabilities | None = None,
        paused: bool = False,
        mid: str | None = None,
        ignore_dtx: bool = False,
        enable_rtx: bool | None = None,
        pipe: bool = True,
        app_data: AppData | None = None,
    ) -> Consumer:
        """A pipe consumer of `producer_id`: every encoding as it is, to be produced in the other router.

        Only `producer_id` and `app_data` matter here; the other arguments exist for signature compatibility.
        """
        producer = self._router._producers.get(producer_id)
        if producer is None:
            raise NotFoundError(f"Producer with id {producer_id!r} not found")
        rtp_parameters = ortc.get_pipe_consumer_rtp_parameters(
            consumable_rtp_parameters=producer.consumable_rtp_parameters, enable_rtx=self._rtx
        )
        return await self._consume(producer, rtp_parameters, "pipe", False, False, app_data)

    def _stats_type(self) -> str:
        return "pipe-transport"

    def _stats_extra(self, response: Any, stats: dict[str, Any]) -> dict[str, Any]:
        return {**stats, "tuple": tuple_from_fbs(response.tuple)}

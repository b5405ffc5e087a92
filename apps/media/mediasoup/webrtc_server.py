"""WebRtcServer: shared UDP/TCP ports that many WebRtcTransports of a worker listen on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.Worker.CloseWebRtcServerRequest import CloseWebRtcServerRequestT

from .channel import Channel
from .fbs_codec import plain
from .remote_object import AppData, RemoteObject

if TYPE_CHECKING:
    from .webrtc_transport import WebRtcTransport


class WebRtcServer(RemoteObject):
    """Events: `workerclose`, `@close`.

    Observer: `close`, `webrtctransporthandled`, `webrtctransportunhandled`.
    """

    def __init__(self, *, channel: Channel, server_id: str, app_data: AppData | None) -> None:
        super().__init__(channel, server_id, app_data)
        self._transports: dict[str, WebRtcTransport] = {}

    @property
    def webrtc_transports(self) -> list[WebRtcTransport]:
        return list(self._transports.values())

    async def close(self) -> None:
        """Close the server; the worker closes its WebRtcTransports (they emit `listenserverclose`)."""
        body = CloseWebRtcServerRequestT(webRtcServerId=self._id)
        await self._close_in_worker(
            Method.WORKER_WEBRTCSERVER_CLOSE, RequestBody.Worker_CloseWebRtcServerRequest, body, ""
        )

    def _children(self) -> list[RemoteObject]:
        return list(self._transports.values())

    def _close_children(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport._teardown("listenserverclose")
            self.observer.emit("webrtctransportunhandled", transport)

    async def dump(self) -> dict[str, Any]:
        result: dict[str, Any] = plain(await self._request(Method.WEBRTCSERVER_DUMP))
        return result

    def _handle_transport(self, transport: WebRtcTransport) -> None:
        self._transports[transport.id] = transport
        self.observer.emit("webrtctransporthandled", transport)

        def unhandle() -> None:
            if self._transports.pop(transport.id, None) is not None:
                self.observer.emit("webrtctransportunhandled", transport)

        transport._teardown_callbacks.append(unhandle)

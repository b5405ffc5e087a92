"""RtpObserver: what the active speaker and audio level observers share (producers, pause, close)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.Router.CloseRtpObserverRequest import CloseRtpObserverRequestT
from FBS.RtpObserver.AddProducerRequest import AddProducerRequestT
from FBS.RtpObserver.RemoveProducerRequest import RemoveProducerRequestT

from .channel import Channel
from .errors import NotFoundError
from .remote_object import AppData, RemoteObject

if TYPE_CHECKING:
    from .producer import Producer
    from .router import Router

RtpObserverType = Literal["activespeaker", "audiolevel"]


class RtpObserver(RemoteObject):
    """Events: `routerclose`, `@close`.

    Observer: `close`, `pause`, `resume`, `addproducer`, `removeproducer`.
    """

    type: ClassVar[RtpObserverType]

    def __init__(
        self, *, channel: Channel, observer_id: str, router: Router, app_data: AppData | None
    ) -> None:
        super().__init__(channel, observer_id, app_data)
        self._router = router
        self._paused = False
        channel.add_handler(observer_id, self._on_notification)

    @property
    def router(self) -> Router:
        return self._router

    @property
    def paused(self) -> bool:
        return self._paused

    async def close(self) -> None:
        body = CloseRtpObserverRequestT(rtpObserverId=self._id)
        await self._close_in_worker(
            Method.ROUTER_CLOSE_RTPOBSERVER, RequestBody.Router_CloseRtpObserverRequest, body, self._router.id
        )

    async def pause(self) -> None:
        was_paused = self._paused
        await self._request(Method.RTPOBSERVER_PAUSE)
        self._paused = True
        if not was_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        was_paused = self._paused
        await self._request(Method.RTPOBSERVER_RESUME)
        self._paused = False
        if was_paused:
            self.observer.emit("resume")

    def _producer(self, producer_id: str) -> Producer:
        producer = self._router._producers.get(producer_id)
        if producer is None:
            raise NotFoundError(f"Producer with id {producer_id!r} not found")
        return producer

    async def add_producer(self, *, producer_id: str) -> None:
        producer = self._producer(producer_id)
        body = AddProducerRequestT(producerId=producer_id)
        await self._request(Method.RTPOBSERVER_ADD_PRODUCER, RequestBody.RtpObserver_AddProducerRequest, body)
        self.observer.emit("addproducer", producer)

    async def remove_producer(self, *, producer_id: str) -> None:
        producer = self._producer(producer_id)
        body = RemoveProducerRequestT(producerId=producer_id)
        await self._request(
            Method.RTPOBSERVER_REMOVE_PRODUCER, RequestBody.RtpObserver_RemoveProducerRequest, body
        )
        self.observer.emit("removeproducer", producer)

    def _on_notification(self, event: int, body: Any) -> None:
        """Subclasses handle their own notifications."""

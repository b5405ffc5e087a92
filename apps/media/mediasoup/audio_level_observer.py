"""AudioLevelObserver: periodic volumes of the loudest producers, and silence."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from FBS.Notification.Event import Event

from .fbs_codec import text
from .rtp_observer import RtpObserver

if TYPE_CHECKING:
    from .producer import Producer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioLevelObserverVolume:
    producer: Producer
    volume: int  # dBvo, -127..0


class AudioLevelObserver(RtpObserver):
    """Adds events `volumes` (list[AudioLevelObserverVolume], loudest first) and `silence`."""

    type: ClassVar[Literal["audiolevel"]] = "audiolevel"

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.AUDIOLEVELOBSERVER_VOLUMES:
            volumes = []
            for entry in body.volumes or []:
                producer = self._router._producers.get(text(entry.producerId))
                if producer is not None:
                    volumes.append(AudioLevelObserverVolume(producer=producer, volume=int(entry.volume)))
            if volumes:
                self.emit("volumes", volumes)
                self.observer.emit("volumes", volumes)
        elif event == Event.AUDIOLEVELOBSERVER_SILENCE:
            self.emit("silence")
            self.observer.emit("silence")
        else:
            logger.warning("%r: unexpected notification %s", self, event)

"""ActiveSpeakerObserver: tells which producer is the dominant speaker."""

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
class DominantSpeaker:
    """Payload of `dominantspeaker` (mediasoup's `{ producer }`)."""

    producer: Producer


class ActiveSpeakerObserver(RtpObserver):
    """Adds event `dominantspeaker` (a DominantSpeaker), also on the observer."""

    type: ClassVar[Literal["activespeaker"]] = "activespeaker"

    def _on_notification(self, event: int, body: Any) -> None:
        if event != Event.ACTIVESPEAKEROBSERVER_DOMINANT_SPEAKER:
            logger.warning("%r: unexpected notification %s", self, event)
            return
        producer = self._router._producers.get(text(body.producerId))
        if producer is None:
            return  # closed meanwhile
        speaker = DominantSpeaker(producer=producer)
        self.emit("dominantspeaker", speaker)
        self.observer.emit("dominantspeaker", speaker)

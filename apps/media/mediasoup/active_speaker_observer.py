"""ActiveSpeakerObserver: tells which producer is the dominant speaker."""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from FBS.Notification.Event import Event

from .fbs_codec import text
from .rtp_observer import RtpObserver

logger = logging.getLogger(__name__)


class ActiveSpeakerObserver(RtpObserver):
    """Adds event `dominantspeaker` (the Producer), also on the observer."""

    type: ClassVar[Literal["activespeaker"]] = "activespeaker"

    def _on_notification(self, event: int, body: Any) -> None:
        if event != Event.ACTIVESPEAKEROBSERVER_DOMINANT_SPEAKER:
            logger.warning("%r: unexpected notification %s", self, event)
            return
        producer = self._router._producers.get(text(body.producerId))
        if producer is None:
            return  # closed meanwhile
        self.emit("dominantspeaker", producer)
        self.observer.emit("dominantspeaker", producer)

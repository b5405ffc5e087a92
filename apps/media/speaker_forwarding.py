"""Active speaker forwarding (contract 4.6): which speakers' audio reaches listeners.

Pure bookkeeping, no mediasoup: the room cluster feeds it dominant-speaker events
and consumer state, and applies the pause/resume decisions it returns.

A consumer flows iff its client asked for it (`consumer:resume`) and its source
producer is forwarded. Until the first dominant-speaker event every producer is
forwarded; from then on, the N most recently dominant ones (within 10 s) are.
Unlike the baseline, the first transition pauses consumers of speakers outside
the top N too, so listeners always get exactly the forwarded set; and a speaker
counts as active until the moment another one becomes dominant (the observer only
reports changes, so the baseline forgot anyone who held the floor for over 10 s
and paused them as soon as they were interrupted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

STALE_AFTER_SECONDS = 10.0


@dataclass
class _Speaker:
    user_id: int | float
    last_active_at: float


@dataclass
class _ConsumerState:
    source_producer_id: str
    wanted: bool = False  # the client resumed it
    flowing: bool = False  # what the worker was last told (not paused)


@dataclass(frozen=True)
class ForwardingChange:
    """What to do after an event: consumers to pause and resume, and the `speaker:active` to send."""

    pause: list[str] = field(default_factory=list)
    resume: list[str] = field(default_factory=list)
    # Set when the forwarded set changed: (dominant user id, user ids of the forwarded speakers).
    active: tuple[int | float, list[int | float]] | None = None


class ActiveSpeakerForwarding:
    def __init__(self, max_forwarded: int, *, stale_after: float = STALE_AFTER_SECONDS) -> None:
        self.max_forwarded = max_forwarded
        self.stale_after = stale_after
        self._recent: dict[str, _Speaker] = {}
        self._forwarded: frozenset[str] = frozenset()
        self._started = False  # a dominant-speaker event has happened
        self._dominant: str | None = None  # the producer named by the latest event
        self._consumers: dict[str, _ConsumerState] = {}

    @property
    def forwarded(self) -> frozenset[str]:
        return self._forwarded

    def decision(self) -> list[str] | None:
        """What another node's copy of the room follows (`follow`): the forwarded producers, or None
        before the first dominant-speaker event (every producer forwarded)."""
        return sorted(self._forwarded) if self._started else None

    def follow(self, forwarded: list[str] | None) -> ForwardingChange:
        """A room's listeners on another node (room_span.py): the home node decides, this side applies
        its decision (`decision()` there) to its own consumers; never a `speaker:active` from here."""
        self._started = forwarded is not None
        self._forwarded = frozenset(forwarded or ())
        pause, resume = self._consumer_changes()
        return ForwardingChange(pause, resume, None)

    def is_forwarded(self, producer_id: str) -> bool:
        return not self._started or producer_id in self._forwarded

    def add_consumer(self, consumer_id: str, source_producer_id: str) -> None:
        """A new consumer, created paused."""
        self._consumers[consumer_id] = _ConsumerState(source_producer_id)

    def remove_consumer(self, consumer_id: str) -> None:
        self._consumers.pop(consumer_id, None)

    def has_consumer(self, consumer_id: str) -> bool:
        return consumer_id in self._consumers

    def request_resume(self, consumer_id: str) -> bool:
        """The client resumed a consumer. True: resume it now; False: deferred until its speaker is active."""
        state = self._consumers[consumer_id]
        state.wanted = True
        if self.is_forwarded(state.source_producer_id):
            state.flowing = True
            return True
        return False

    def on_dominant_speaker(self, producer_id: str, user_id: int | float, now: float) -> ForwardingChange:
        previous = self._recent.get(self._dominant) if self._dominant is not None else None
        if previous is not None:
            previous.last_active_at = now  # it was speaking until this change
        self._recent[producer_id] = _Speaker(user_id, now)
        self._dominant = producer_id
        self._started = True
        return self._recompute(now, dominant_user_id=user_id)

    def remove_producer(self, producer_id: str, now: float) -> ForwardingChange:
        """A producer closed: it leaves the set and a recently active one may take its place."""
        self._recent.pop(producer_id, None)
        if producer_id == self._dominant:
            self._dominant = None
        if producer_id not in self._forwarded:
            return ForwardingChange()
        dominant = max(self._recent.values(), key=lambda s: s.last_active_at, default=None)
        return self._recompute(now, dominant_user_id=dominant.user_id if dominant else None)

    def _recompute(self, now: float, *, dominant_user_id: int | float | None) -> ForwardingChange:
        for pid in [p for p, s in self._recent.items() if now - s.last_active_at > self.stale_after]:
            del self._recent[pid]
        # Most recent first; on a tie the current dominant speaker wins (it matters when N is 1).
        ranked = sorted(self._recent.items(), reverse=True,
                        key=lambda item: (item[1].last_active_at, item[0] == self._dominant))
        top = frozenset(pid for pid, _ in ranked[: self.max_forwarded])
        if top == self._forwarded:
            return ForwardingChange()
        self._forwarded = top
        pause, resume = self._consumer_changes()
        active_users = [self._recent[pid].user_id for pid in top]
        active = None if dominant_user_id is None else (dominant_user_id, active_users)
        return ForwardingChange(pause, resume, active)

    def _consumer_changes(self) -> tuple[list[str], list[str]]:
        """Consumers to pause and to resume so that exactly the wanted, forwarded ones flow."""
        pause: list[str] = []
        resume: list[str] = []
        for consumer_id, state in self._consumers.items():
            should_flow = state.wanted and self.is_forwarded(state.source_producer_id)
            if state.flowing and not should_flow:
                state.flowing = False
                pause.append(consumer_id)
            elif should_flow and not state.flowing:
                state.flowing = True
                resume.append(consumer_id)
        return pause, resume

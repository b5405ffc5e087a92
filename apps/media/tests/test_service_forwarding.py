"""Active speaker forwarding (contract 4.6, with the fix that the first transition also pauses)."""

from __future__ import annotations

from apps.media.speaker_forwarding import ActiveSpeakerForwarding


def _room(n: int = 3) -> ActiveSpeakerForwarding:
    forwarding = ActiveSpeakerForwarding(n)
    for speaker in "ABCD":
        forwarding.add_consumer(f"c{speaker}", f"p{speaker}")
    return forwarding


def test_everyone_is_forwarded_before_the_first_dominant_speaker() -> None:
    forwarding = _room()
    assert forwarding.is_forwarded("pA")
    assert forwarding.is_forwarded("pZ")
    assert all(forwarding.request_resume(f"c{s}") for s in "ABCD")


def test_first_transition_pauses_consumers_of_speakers_outside_the_set() -> None:
    forwarding = _room()
    for s in "ABCD":
        forwarding.request_resume(f"c{s}")
    change = forwarding.on_dominant_speaker("pA", 1, now=0.0)
    assert sorted(change.pause) == ["cB", "cC", "cD"]
    assert change.resume == []
    assert change.active == (1, [1])


def test_top_three_most_recent_are_forwarded_and_the_fourth_waits() -> None:
    forwarding = _room()
    for s in "ABCD":
        forwarding.request_resume(f"c{s}")
    forwarding.on_dominant_speaker("pA", 1, now=0.0)
    forwarding.on_dominant_speaker("pB", 2, now=1.0)
    change = forwarding.on_dominant_speaker("pC", 3, now=2.0)
    assert change.resume == ["cC"]
    assert change.active is not None
    assert sorted(change.active[1]) == [1, 2, 3]
    assert forwarding.forwarded == {"pA", "pB", "pC"}
    change = forwarding.on_dominant_speaker("pD", 4, now=3.0)
    assert change.pause == ["cA"]
    assert change.resume == ["cD"]
    assert change.active is not None
    assert change.active[0] == 4
    assert sorted(change.active[1]) == [2, 3, 4]


def test_same_set_sends_nothing() -> None:
    forwarding = _room()
    forwarding.on_dominant_speaker("pA", 1, now=0.0)
    forwarding.on_dominant_speaker("pB", 2, now=1.0)
    change = forwarding.on_dominant_speaker("pA", 1, now=2.0)
    assert change.active is None
    assert change.pause == []
    assert change.resume == []


def test_resume_is_deferred_outside_the_set_and_done_when_the_speaker_enters() -> None:
    forwarding = _room(n=1)
    forwarding.on_dominant_speaker("pA", 1, now=0.0)
    assert forwarding.request_resume("cA") is True
    assert forwarding.request_resume("cB") is False
    change = forwarding.on_dominant_speaker("pB", 2, now=1.0)
    assert change.resume == ["cB"]
    assert change.pause == ["cA"]


def test_consumers_the_client_never_resumed_stay_paused() -> None:
    forwarding = _room()
    change = forwarding.on_dominant_speaker("pA", 1, now=0.0)
    assert change.resume == []
    assert change.pause == []


def test_speakers_silent_for_ten_seconds_drop_out() -> None:
    forwarding = _room()
    for s in "ABCD":
        forwarding.request_resume(f"c{s}")
    forwarding.on_dominant_speaker("pA", 1, now=0.0)
    forwarding.on_dominant_speaker("pB", 2, now=1.0)  # A spoke until 1.0
    change = forwarding.on_dominant_speaker("pC", 3, now=12.0)  # A silent for 11 s
    assert forwarding.forwarded == {"pB", "pC"}
    assert "cA" in change.pause


def test_closed_producer_leaves_the_set() -> None:
    forwarding = _room()
    forwarding.on_dominant_speaker("pA", 1, now=0.0)
    forwarding.on_dominant_speaker("pB", 2, now=1.0)
    change = forwarding.remove_producer("pB", now=2.0)
    assert forwarding.forwarded == {"pA"}
    assert change.active == (1, [1])
    assert forwarding.remove_producer("pZ", now=2.0).active is None


def test_a_speaker_holding_the_floor_past_the_window_stays_forwarded_when_interrupted() -> None:
    forwarding = _room(n=2)
    for s in "ABCD":
        forwarding.request_resume(f"c{s}")
    forwarding.on_dominant_speaker("pB", 2, now=0.0)
    forwarding.on_dominant_speaker("pA", 1, now=1.0)
    # A speaks for 30 s without interruption (the observer reports nothing), then C cuts in.
    change = forwarding.on_dominant_speaker("pC", 3, now=31.0)
    assert forwarding.forwarded == {"pA", "pC"}
    assert "cA" not in change.pause
    assert change.active is not None
    assert sorted(change.active[1]) == [1, 3]


def test_with_one_forwarded_the_new_dominant_speaker_wins_the_tie() -> None:
    forwarding = _room(n=1)
    forwarding.on_dominant_speaker("pA", 1, now=0.0)
    change = forwarding.on_dominant_speaker("pB", 2, now=5.0)
    assert forwarding.forwarded == {"pB"}
    assert change.active == (2, [2])

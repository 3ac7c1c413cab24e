"""Participants, speaking intervals and the recording's time origin, from observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meetbot.contract.reports import (
    AudioChunk,
    BaseReport,
    Caption,
    ParticipantJoined,
    ParticipantLeft,
    Speaking,
)
from meetbot.control.media.participants import (
    CAPTION_SECONDS_PER_WORD,
    participants,
    recording_origin,
    speaker_intervals,
)
from meetbot.transcription.segments import SpeakingInterval

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def joined(t: float, pid: str, name: str) -> ParticipantJoined:
    return ParticipantJoined(at=at(t), participant_id=pid, name=name)


def left(t: float, pid: str, name: str) -> ParticipantLeft:
    return ParticipantLeft(at=at(t), participant_id=pid, name=name)


def speaking(t: float, pid: str, name: str, on: bool) -> Speaking:
    return Speaking(at=at(t), participant_id=pid, name=name, speaking=on)


def test_no_observations_no_participants() -> None:
    assert participants([]) == []


def test_join_leave_and_speaking_time() -> None:
    obs: list[BaseReport] = [
        joined(0, "a", "Alice"),
        joined(5, "b", "Bob"),
        speaking(10, "a", "Alice", True),
        speaking(14, "a", "Alice", False),
        speaking(20, "b", "Bob", True),
        speaking(21.5, "b", "Bob", False),
        speaking(30, "a", "Alice", True),
        speaking(32, "a", "Alice", False),
        left(40, "b", "Bob"),
    ]
    out = participants(obs)
    assert [p.name for p in out] == ["Alice", "Bob"]
    alice, bob = out
    assert alice.first_join == at(0)
    assert alice.last_leave is None
    assert alice.speaking_seconds == pytest.approx(6.0)
    assert bob.first_join == at(5)
    assert bob.last_leave == at(40)
    assert bob.speaking_seconds == pytest.approx(1.5)
    view = bob.view()
    assert view == {
        "id": "b",
        "name": "Bob",
        "first_join": "2026-01-01T12:00:05.000Z",
        "last_leave": "2026-01-01T12:00:40.000Z",
        "speaking_time_s": 1.5,
    }


def test_rejoin_keeps_first_join_and_clears_leave() -> None:
    out = participants([joined(0, "a", "A"), left(10, "a", "A"), joined(20, "a", "A")])
    assert out[0].first_join == at(0)
    assert out[0].last_leave is None


def test_leave_after_rejoin_is_the_last_leave() -> None:
    obs = [joined(0, "a", "A"), left(10, "a", "A"), joined(20, "a", "A"), left(25, "a", "A")]
    assert participants(obs)[0].last_leave == at(25)


def test_open_speaking_closes_at_leave() -> None:
    obs = [joined(0, "a", "A"), speaking(3, "a", "A", True), left(8, "a", "A")]
    assert participants(obs)[0].speaking_seconds == pytest.approx(5.0)


@pytest.mark.parametrize(("until", "expected"), [(None, 2.0), (at(12), 9.0)])
def test_open_speaking_closes_at_until_or_last_observation(
    until: datetime | None, expected: float
) -> None:
    obs = [joined(0, "a", "A"), speaking(3, "a", "A", True), joined(5, "b", "B")]
    assert participants(obs, until=until)[0].speaking_seconds == pytest.approx(expected)


def test_repeated_speaking_on_does_not_restart_the_interval() -> None:
    obs = [speaking(1, "a", "A", True), speaking(2, "a", "A", True), speaking(4, "a", "A", False)]
    assert participants(obs)[0].speaking_seconds == pytest.approx(3.0)


def test_speaker_only_seen_speaking_is_listed_without_join() -> None:
    out = participants([speaking(1, "x", "Xavier", True), speaking(2, "x", "Xavier", False)])
    assert out[0].name == "Xavier"
    assert out[0].first_join is None


def test_rename_keeps_the_latest_name() -> None:
    out = participants([joined(0, "a", "guest"), speaking(1, "a", "Alice", True)])
    assert out[0].name == "Alice"


def chunk(seq: int, offset: float, duration: float, reported: float) -> AudioChunk:
    key = f"bots/b/chunks/{seq:08d}.pcm"
    return AudioChunk(at=at(reported), seq=seq, key=key, offset_s=offset, duration_s=duration)


def test_recording_origin_is_the_earliest_chunk_start() -> None:
    obs = [chunk(0, 0.0, 1.5, 101.6), chunk(1, 1.5, 1.5, 103.05), chunk(2, 3.0, 1.5, 104.7)]
    assert recording_origin(obs) == at(100.05)


def test_recording_origin_falls_back() -> None:
    assert recording_origin([joined(0, "a", "A")], at(7)) == at(7)
    assert recording_origin([]) is None


def test_speaker_intervals_relative_to_origin() -> None:
    obs: list[BaseReport] = [
        speaking(12, "a", "Alice", True),
        speaking(15, "b", "Bob", True),
        speaking(16, "a", "Alice", False),
        joined(20, "c", "Carol"),
    ]
    assert speaker_intervals(obs, at(10)) == [
        SpeakingInterval("Alice", 2.0, 6.0),
        SpeakingInterval("Bob", 5.0, 10.0),
    ]


def test_captions_are_used_only_without_speaking_events() -> None:
    caption = Caption(at=at(20), speaker="Dana", text="hello there all")
    span = 3 * CAPTION_SECONDS_PER_WORD
    assert speaker_intervals([caption], at(10)) == [SpeakingInterval("Dana", 10.0 - span, 10.0)]
    both: list[BaseReport] = [caption, speaking(11, "a", "A", True), speaking(12, "a", "A", False)]
    assert speaker_intervals(both, at(10)) == [SpeakingInterval("A", 1.0, 2.0)]

"""The runner's voice (issue 16 §2): it follows the control plane's queue of clips, plays the
first unmuted, reports started/finished, stops a clip the queue dropped and mutes after."""

from __future__ import annotations

import asyncio

from meetbot.contract.reports import AudioOut, OutputAudioFinished, OutputAudioStarted
from meetbot.runner.voice import Voice
from meetbot.testing.fakes import FixedClock
from meetbot.testing.fakes_runner import FakeReports


class FakeSpeaker:
    def __init__(self) -> None:
        self.played: list[tuple[str, bytes]] = []
        self.stops = 0
        self.finished: list[str] = []

    async def play(self, clip_id: str, pcm: bytes) -> None:
        self.played.append((clip_id, pcm))

    async def stop(self) -> None:
        self.stops += 1

    async def ended(self) -> list[str]:
        out, self.finished = self.finished, []
        return out


class Switch:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def unmute(self) -> None:
        self.calls.append("unmute")

    async def mute(self) -> None:
        self.calls.append("mute")


def clip(id_: str) -> AudioOut:
    return AudioOut(id=id_, key=f"bots/b/output_audio/{id_}.pcm", duration_s=1.0)


def setup(mute_tail: float = 0.0) -> tuple[Voice, FakeReports, FakeSpeaker, Switch]:
    reports = FakeReports()
    reports.clips = {clip(i).key: i.encode() for i in "abc"}
    voice = Voice(reports.clip, reports.emit, FixedClock(), mute_tail=mute_tail)
    return voice, reports, FakeSpeaker(), Switch()


def said(reports: FakeReports) -> list[tuple[str, str, bool | None]]:
    out: list[tuple[str, str, bool | None]] = []
    for r in reports.reports:
        if isinstance(r, OutputAudioStarted):
            out.append(("started", r.id, None))
        elif isinstance(r, OutputAudioFinished):
            out.append(("finished", r.id, r.stopped))
    return out


async def test_a_queue_is_played_in_order_unmuted_then_muted() -> None:
    voice, reports, speaker, switch = setup()
    queue = [clip("a"), clip("b")]
    await voice.step(queue, speaker, switch.unmute, switch.mute)
    assert speaker.played == [("a", b"a")]
    await voice.step(queue, speaker, switch.unmute, switch.mute)  # still playing
    assert speaker.played == [("a", b"a")]
    speaker.finished = ["a"]
    await voice.step(queue, speaker, switch.unmute, switch.mute)  # the answer still lists a
    assert [p[0] for p in speaker.played] == ["a", "b"]
    speaker.finished = ["b"]
    await voice.step([clip("b")], speaker, switch.unmute, switch.mute)
    await voice.step([], speaker, switch.unmute, switch.mute)
    assert said(reports) == [
        ("started", "a", None),
        ("finished", "a", False),
        ("started", "b", None),
        ("finished", "b", False),
    ]
    assert switch.calls == ["unmute", "mute"]
    assert voice.current is None


async def test_a_clip_the_queue_dropped_is_stopped() -> None:
    """``DELETE``: the queue comes back empty; an interrupt: it lists only the new clip."""
    voice, reports, speaker, switch = setup()
    await voice.step([clip("a"), clip("b")], speaker, switch.unmute, switch.mute)
    await voice.step([clip("c")], speaker, switch.unmute, switch.mute)  # interrupt
    assert speaker.stops == 1
    assert [p[0] for p in speaker.played] == ["a", "c"]
    await voice.step([], speaker, switch.unmute, switch.mute)  # DELETE
    assert speaker.stops == 2
    assert said(reports) == [
        ("started", "a", None),
        ("finished", "a", True),
        ("started", "c", None),
        ("finished", "c", True),
    ]
    assert switch.calls == ["unmute", "mute"]  # unmuted across the interrupt


async def test_a_clip_that_cannot_be_read_is_dropped() -> None:
    voice, reports, speaker, switch = setup()
    missing = AudioOut(id="x", key="bots/b/output_audio/x.pcm", duration_s=1.0)
    await voice.step([missing, clip("a")], speaker, switch.unmute, switch.mute)
    assert said(reports) == [("finished", "x", True)]
    await voice.step([missing, clip("a")], speaker, switch.unmute, switch.mute)
    assert speaker.played == [("a", b"a")]
    assert said(reports)[-1] == ("started", "a", None)


async def test_the_mute_waits_for_the_tail_of_a_clip_that_ended_by_itself() -> None:
    """The page says a clip ended when its last samples enter the audio graph; muting at that
    moment left them on a muted microphone track (the Zoom fixture heard them)."""
    voice, _, speaker, switch = setup(mute_tail=0.2)
    await voice.step([clip("a")], speaker, switch.unmute, switch.mute)
    speaker.finished = ["a"]
    await voice.step([], speaker, switch.unmute, switch.mute)
    assert switch.calls == ["unmute"]  # its tail is still on its way
    await asyncio.sleep(0.25)
    await voice.step([], speaker, switch.unmute, switch.mute)
    assert switch.calls == ["unmute", "mute"]


async def test_a_stopped_clip_is_muted_at_once() -> None:
    voice, _, speaker, switch = setup(mute_tail=10.0)
    await voice.step([clip("a")], speaker, switch.unmute, switch.mute)
    await voice.step([], speaker, switch.unmute, switch.mute)  # dropped from the queue
    assert speaker.stops == 1
    assert switch.calls == ["unmute", "mute"]

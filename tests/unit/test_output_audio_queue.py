"""``output_audio``'s queue as data (issue 16 §2): requests, interrupts, stops and the runner's
``finished`` folded into what is left to say; the formats a file may have; espeak-ng's voices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meetbot.contract.reports import (
    AudioOut,
    BaseReport,
    OutputAudioFinished,
    OutputAudioRequest,
    OutputAudioStarted,
    OutputAudioStop,
)
from meetbot.control.media.speech import parse_voices
from meetbot.control.output_audio import MAX_FILE_BYTES, InvalidAudio, pending_clips, sniff_format

T = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def req(id_: str, *, interrupt: bool = False) -> OutputAudioRequest:
    return OutputAudioRequest(at=T, id=id_, key=f"k/{id_}", duration_s=1.0, interrupt=interrupt)


def ids(clips: list[AudioOut]) -> list[str]:
    return [c.id for c in clips]


@pytest.mark.parametrize(
    ("observations", "left"),
    [
        ([], []),
        ([req("a")], ["a"]),
        ([req("a"), req("b")], ["a", "b"]),  # a second POST queues
        ([req("a"), OutputAudioStarted(at=T, id="a"), req("b")], ["a", "b"]),
        ([req("a"), req("b"), OutputAudioFinished(at=T, id="a")], ["b"]),
        ([req("a"), req("b"), req("c", interrupt=True)], ["c"]),  # interrupt drops the rest
        ([req("a"), req("b", interrupt=True), req("c")], ["b", "c"]),
        ([req("a"), req("b"), OutputAudioStop(at=T)], []),  # DELETE
        ([req("a"), OutputAudioStop(at=T), req("b")], ["b"]),  # a POST after DELETE plays
        ([req("a"), OutputAudioFinished(at=T, id="zz", stopped=True)], ["a"]),
        ([req("a"), OutputAudioFinished(at=T, id="a"), OutputAudioFinished(at=T, id="a")], []),
    ],
)
def test_the_queue_after_these_observations(
    observations: list[BaseReport], left: list[str]
) -> None:
    assert ids(pending_clips(observations)) == left


def test_a_clip_carries_its_key_and_length() -> None:
    assert pending_clips([req("a")]) == [AudioOut(id="a", key="k/a", duration_s=1.0)]


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
        (b"ID3\x04\x00\x00\x00", "mp3"),
        (b"\xff\xfb\x90\x64\x00", "mp3"),
        (b"OggS\x00\x02", "ogg"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86", "matroska"),
    ],
)
def test_formats_by_their_magic_bytes(head: bytes, kind: str) -> None:
    assert sniff_format(head + b"\x00" * 64) == kind


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a" + b"\x00" * 64, b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00AVI "],
)
def test_other_files_are_invalid_audio(data: bytes) -> None:
    with pytest.raises(InvalidAudio):
        sniff_format(data)


def test_a_file_too_large_is_invalid_audio() -> None:
    with pytest.raises(InvalidAudio):
        sniff_format(b"OggS" + b"\x00" * MAX_FILE_BYTES)


def test_espeak_voices_are_its_language_codes() -> None:
    listing = (
        "Pty Language       Age/Gender VoiceName          File                 Other Languages\n"
        " 5  af              --/M      Afrikaans          gmw/af               \n"
        " 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)\n"
        " 5  de              --/M      German             gmw/de               \n"
    )
    assert parse_voices(listing) == ("af", "de", "en-us")

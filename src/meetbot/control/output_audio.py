"""What the bot says (issue 16 §2, ``output_audio``): what a clip must be, and the queue.

A client sends an audio file (WAV, MP3, Ogg, WebM; told apart by their magic bytes here, then
decoded by :func:`meetbot.control.media.ffmpeg.decode_pcm`) or a text spoken by espeak-ng
(:mod:`meetbot.control.media.speech`). Either way the clip is stored as 48 kHz mono s16le PCM
under the bot's prefix. The queue is data: the bot's observations (the control plane's
:class:`~meetbot.contract.reports.OutputAudioRequest` / ``OutputAudioStop`` and the runner's
``OutputAudioFinished``), folded by :func:`pending_clips` (pure) into what is left to say.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from meetbot import errors
from meetbot.contract.reports import (
    AudioOut,
    BaseReport,
    OutputAudioFinished,
    OutputAudioRequest,
    OutputAudioStop,
)

MAX_FILE_BYTES: Final = 10 * 1024 * 1024
"""The largest audio file accepted."""
MAX_SECONDS: Final = 300.0
"""The longest clip kept (a longer file is cut)."""
MAX_TEXT: Final = 5000
"""The longest text spoken."""
DEFAULT_VOICE: Final = "en-us"
FORMATS: Final = ("wav", "mp3", "ogg", "webm")


class InvalidAudio(errors.InvalidRequest):
    """The uploaded file is not audio meetbot can play (format, size, or it does not decode)."""

    code = "invalid_audio"


class InvalidVoice(errors.InvalidRequest):
    """``voice`` names no installed text-to-speech voice."""

    code = "invalid_voice"


def sniff_format(data: bytes) -> str:
    """The ffmpeg demuxer for ``data`` (``wav``, ``mp3``, ``ogg``, ``matroska``) by its magic
    bytes; :class:`InvalidAudio` for anything else."""
    if not data:
        raise InvalidAudio("The audio file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidAudio(f"The audio file is larger than {MAX_FILE_BYTES} bytes.")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    raise InvalidAudio(f"Not an audio file meetbot reads ({', '.join(FORMATS)}).")


def pending_clips(observations: Iterable[BaseReport]) -> list[AudioOut]:
    """The clips left to say, in order, after these observations (oldest first): a request
    queues its clip (``interrupt``: after dropping every one before it), a stop drops them all,
    the runner's ``output_audio_finished`` removes its clip."""
    queue: list[AudioOut] = []
    for o in observations:
        if isinstance(o, OutputAudioRequest):
            if o.interrupt:
                queue.clear()
            queue.append(AudioOut(id=o.id, key=o.key, duration_s=o.duration_s))
        elif isinstance(o, OutputAudioStop):
            queue.clear()
        elif isinstance(o, OutputAudioFinished):
            queue = [c for c in queue if c.id != o.id]
    return queue

"""What a runner writes to media storage and the control plane reads back: keys and formats.

Audio: raw PCM (signed 16-bit little-endian, mono, 16 kHz) in chunks at
``bots/<bot_id>/chunks/<seq:08d>.pcm``, ``seq`` counting from 0 (a crash can leave gaps).

Video (``recording.video``): JPEG frames of the bot's page in chunks at
``bots/<bot_id>/video/<seq:08d>.frames``, a few seconds each. A chunk is :data:`MAGIC` then,
per frame, ``<d`` seconds since the recording's origin (the audio recorder's start) and ``<I``
length, then the JPEG bytes (:func:`pack_frames`, :func:`unpack_frames`).

While the call goes on, the control plane encodes the recording a segment at a time under
``bots/<bot_id>/segments/`` (its own keys: a runner may not store there).

The finished files are ``bots/<bot_id>/recording.<ogg|mp3|wav>`` and
``bots/<bot_id>/recording.mp4``. Every key follows :mod:`meetbot.contract.storage_keys`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from meetbot.contract.storage_keys import InvalidKey, validate_key

SAMPLE_RATE: Final = 16_000
SAMPLE_WIDTH: Final = 2
CHANNELS: Final = 1
BYTES_PER_SECOND: Final = SAMPLE_RATE * SAMPLE_WIDTH * CHANNELS

RecordingFormat = Literal["ogg", "mp3", "wav"]
FORMATS: Final[tuple[RecordingFormat, ...]] = ("ogg", "mp3", "wav")

MAGIC: Final = b"MBVF\x01"
"""The first bytes of every frame chunk (format version 1)."""
FRAMES_CONTENT_TYPE: Final = "application/x-meetbot-frames"
DEFAULT_FPS: Final = 5.0
DEFAULT_SIZE: Final = (1280, 720)

_HEADER: Final = struct.Struct("<dI")
_CHUNK_NAME = re.compile(r"(\d{8,})\.pcm")
_FRAMES_NAME = re.compile(r"(\d{8,})\.frames")


def chunk_prefix(bot_id: str) -> str:
    """``bots/<bot_id>/chunks/``: the prefix all of a bot's audio chunks share."""
    if not bot_id or "/" in bot_id:
        raise ValueError(f"Invalid bot id {bot_id!r}.")
    return validate_key(f"bots/{bot_id}/chunks") + "/"


def chunk_key(bot_id: str, seq: int) -> str:
    """The key of audio chunk ``seq`` (from 0) of a bot: ``bots/<id>/chunks/00000012.pcm``."""
    if seq < 0:
        raise ValueError(f"Chunk sequence numbers start at 0, got {seq}.")
    return f"{chunk_prefix(bot_id)}{seq:08d}.pcm"


def chunk_seq(key: str) -> int | None:
    """The sequence number in an audio chunk key, or ``None`` if the key is not a chunk's."""
    match = _CHUNK_NAME.fullmatch(key.rpartition("/")[2])
    return int(match.group(1)) if match else None


def recording_key(bot_id: str, fmt: RecordingFormat) -> str:
    """``bots/<bot_id>/recording.<fmt>``."""
    return f"{_bot_prefix(bot_id)}recording.{fmt}"


def video_prefix(bot_id: str) -> str:
    """``bots/<bot_id>/video/``: the prefix of a bot's frame chunks."""
    return f"{_bot_prefix(bot_id)}video/"


def video_chunk_key(bot_id: str, seq: int) -> str:
    if seq < 0:
        raise ValueError(f"Chunk sequence numbers start at 0, got {seq}.")
    return f"{video_prefix(bot_id)}{seq:08d}.frames"


def video_chunk_seq(key: str) -> int | None:
    """The sequence number in a frame chunk key, or ``None`` if the key is not one."""
    match = _FRAMES_NAME.fullmatch(key.rpartition("/")[2])
    return int(match.group(1)) if match else None


def video_key(bot_id: str) -> str:
    """``bots/<bot_id>/recording.mp4``."""
    return f"{_bot_prefix(bot_id)}recording.mp4"


def camera_prefix(bot_id: str) -> str:
    """``bots/<bot_id>/camera/``: the prefix of the pictures the bot shows as its camera."""
    return f"{_bot_prefix(bot_id)}camera/"


def camera_key(bot_id: str, digest: str, kind: str) -> str:
    """``bots/<bot_id>/camera/<digest>.<png|jpeg>``: a picture the bot shows as its camera."""
    return f"{camera_prefix(bot_id)}{digest}.{kind}"


def output_audio_prefix(bot_id: str) -> str:
    """``bots/<bot_id>/output_audio/``: the clips the bot says (``output_audio``)."""
    return f"{_bot_prefix(bot_id)}output_audio/"


def output_audio_key(bot_id: str, clip_id: str) -> str:
    """``bots/<bot_id>/output_audio/<clip id>.pcm``: one clip, 48 kHz mono s16le PCM."""
    return f"{output_audio_prefix(bot_id)}{clip_id}.pcm"


def participant_audio_prefix(bot_id: str) -> str:
    """``bots/<bot_id>/participant_audio/``: participants' own audio (``?audio=separate``)."""
    return f"{_bot_prefix(bot_id)}participant_audio/"


def participant_chunk_key(bot_id: str, seq: int) -> str:
    """The key of participant audio chunk ``seq`` (one count over all participants; the
    :class:`~meetbot.contract.reports.ParticipantAudioChunk` report says whose)."""
    return f"{participant_audio_prefix(bot_id)}{seq:08d}.pcm"


OUTPUT_AUDIO_RATE: Final = 48_000
"""The sample rate of the clips the bot says (mono s16le): the page's WebAudio rate."""


def segment_prefix(bot_id: str) -> str:
    """``bots/<bot_id>/segments/``: the recording encoded during the call, a segment at a time
    (the control plane's own: a runner may not store there, see :func:`runner_may_store`)."""
    return f"{_bot_prefix(bot_id)}segments/"


def belongs_to(bot_id: str, key: str) -> bool:
    """Whether ``key`` is one of ``bot_id``'s (under ``bots/<bot_id>/``, a valid key): what a
    runner reports storing is checked with it, so a runner cannot point at another bot's media."""
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return key.startswith(_bot_prefix(bot_id))


def runner_may_store(bot_id: str, key: str) -> bool:
    """Whether the runner of ``bot_id`` may store (or report) ``key``: one of its bot's keys,
    but none the control plane derives from them (``segments/``: the final recording reuses
    those, so a runner writing one could put audio in it that it never recorded)."""
    return belongs_to(bot_id, key) and not key.startswith(segment_prefix(bot_id))


def _bot_prefix(bot_id: str) -> str:
    return chunk_prefix(bot_id).removesuffix("chunks/")


@dataclass(frozen=True, slots=True)
class Frame:
    t: float
    """Seconds since the recording's origin (may be slightly negative)."""
    jpeg: bytes


def pack_frames(frames: Sequence[Frame]) -> bytes:
    """One frame chunk's bytes (see the module docstring)."""
    parts = [MAGIC]
    for frame in frames:
        parts += [_HEADER.pack(frame.t, len(frame.jpeg)), frame.jpeg]
    return b"".join(parts)


def unpack_frames(data: bytes) -> list[Frame]:
    """The frames of a chunk; a cut-off last frame is dropped, a foreign chunk gives none."""
    if not data.startswith(MAGIC):
        return []
    frames: list[Frame] = []
    pos = len(MAGIC)
    while pos + _HEADER.size <= len(data):
        t, size = _HEADER.unpack_from(data, pos)
        pos += _HEADER.size
        if pos + size > len(data):
            break
        frames.append(Frame(t, data[pos : pos + size]))
        pos += size
    return frames

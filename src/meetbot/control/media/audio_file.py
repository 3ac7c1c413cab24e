"""From the audio chunks a bot wrote to one recording file, and to samples for transcription.

A runner writes raw PCM chunks (:mod:`meetbot.contract.media_format`). A crash can leave gaps;
the missing chunks are skipped and the rest joined in ``seq`` order. Chunks are fetched one at a
time (the next one while the current one is written) into one local *spool* file, read once:
ffmpeg encodes the recording from it while the tail pass reads only the samples it needs
(:meth:`Spool.tail`), so an hour-long meeting (115 MB of PCM) is never held as one bytes object.
The spool notes each chunk it holds (key, size, CRC-32), so that segments of the recording
encoded during the call can be reused (:mod:`meetbot.control.media.recording_segments`).
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from meetbot.contract.media_format import (
    BYTES_PER_SECOND,
    CHANNELS,
    FORMATS,
    SAMPLE_RATE,
    SAMPLE_WIDTH,
    RecordingFormat,
    chunk_prefix,
    chunk_seq,
    recording_key,
)
from meetbot.control.media.ffmpeg import DEFAULT_BITRATE_KBPS, audio_codec_args
from meetbot.control.media.recording_segments import ChunkRef, encode_recording
from meetbot.errors import NotReady
from meetbot.ports import Storage
from meetbot.storage import ObjectNotFound

if TYPE_CHECKING:  # numpy only when samples are made: `meetbot serve` starts without it
    import numpy as np
    import numpy.typing as npt

CONTENT_TYPES: Final[Mapping[RecordingFormat, str]] = {
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
}

_MAX_WAV_DATA = 0xFFFFFFFF - 36


class NoAudio(NotReady):
    """The bot wrote no audio chunks, so there is nothing to make a recording of."""


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """The meeting view as ``bots/<id>/recording.mp4`` (see
    :mod:`meetbot.control.media.video_file`)."""

    key: str
    duration_s: float
    size_bytes: int
    width: int
    height: int
    fps: float
    format: str = "mp4"
    content_type: str = "video/mp4"


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    key: str
    format: RecordingFormat
    duration_s: float
    size_bytes: int
    content_type: str
    video: VideoInfo | None = None


async def list_chunks(storage: Storage, bot_id: str) -> list[tuple[int, str]]:
    """``(seq, key)`` of every chunk of a bot, in ``seq`` order (gaps left out)."""
    found = [(chunk_seq(key), key) for key in await storage.list(chunk_prefix(bot_id))]
    return sorted((seq, key) for seq, key in found if seq is not None)


async def iter_chunks(
    storage: Storage, keys: Sequence[str], *, align: int = SAMPLE_WIDTH
) -> AsyncGenerator[bytes, None]:
    """The chunks' bytes in order, fetching the next while the caller uses the current one.

    A chunk that vanished since it was listed is skipped, like a gap. A chunk of odd length
    loses its last byte (``align``), so the samples after it stay aligned. Use with
    ``aclosing``.
    """
    async with aclosing(_keyed_chunks(storage, keys, align=align)) as chunks:
        async for _, data in chunks:
            yield data


async def _keyed_chunks(
    storage: Storage, keys: Sequence[str], *, align: int = SAMPLE_WIDTH
) -> AsyncGenerator[tuple[str, bytes], None]:
    """:func:`iter_chunks` with each chunk's key."""
    if not keys:
        return
    pending: asyncio.Future[bytes] = asyncio.ensure_future(storage.get(keys[0]))
    try:
        for key, following in zip(keys, (*keys[1:], None), strict=True):
            current = pending
            if following is not None:
                pending = asyncio.ensure_future(storage.get(following))
            try:
                data = await current
            except ObjectNotFound:
                continue
            yield key, data[: len(data) - len(data) % align]
    finally:
        pending.cancel()
        with suppress(asyncio.CancelledError, Exception):
            await pending  # retrieve its outcome, so nothing is logged as never retrieved


async def load_pcm(storage: Storage, bot_id: str) -> npt.NDArray[np.float32]:
    """All of a bot's audio as float32 samples in [-1, 1), 16 kHz mono (for the transcriber)."""
    import numpy as np

    keys = [key for _, key in await list_chunks(storage, bot_id)]
    parts: list[npt.NDArray[np.int16]] = []
    async with aclosing(iter_chunks(storage, keys)) as chunks:
        async for data in chunks:
            parts.append(np.frombuffer(data, dtype="<i2"))
    out = np.empty(sum(len(p) for p in parts), dtype=np.float32)
    scale = np.float32(1 / 32768)
    start = 0
    for part in parts:
        np.multiply(part, scale, out=out[start : start + len(part)])
        start += len(part)
    return out


@dataclass(frozen=True, slots=True)
class Spool:
    """A bot's chunks joined in one local file of raw PCM (see :func:`spooled`)."""

    path: Path
    pcm_bytes: int
    chunks: tuple[ChunkRef, ...] = ()
    """The chunks it holds, in order (the recording's segments are checked against them)."""

    @property
    def duration_s(self) -> float:
        return self.pcm_bytes / BYTES_PER_SECOND

    def tail(self, start_s: float) -> npt.NDArray[np.float32]:
        """The samples from ``start_s`` on as float32 in [-1, 1) (blocking: use a thread)."""
        import numpy as np

        first = min(max(0, round(start_s * SAMPLE_RATE)) * SAMPLE_WIDTH, self.pcm_bytes)
        raw = np.fromfile(self.path, dtype="<i2", offset=first)
        out = np.empty(len(raw), dtype=np.float32)
        np.multiply(raw, np.float32(1 / 32768), out=out)
        return out


@asynccontextmanager
async def spooled(storage: Storage, bot_id: str) -> AsyncIterator[Spool]:
    """Fetch every chunk of a bot once into a temporary file; removed on exit."""
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="meetbot-rec-"))
    try:
        path = workdir / "audio.pcm"
        listed = await list_chunks(storage, bot_id)
        seqs = {key: seq for seq, key in listed}
        refs: list[ChunkRef] = []
        pcm_bytes = 0
        with path.open("wb") as out:
            async with aclosing(_keyed_chunks(storage, [key for _, key in listed])) as chunks:
                async for key, data in chunks:
                    out.write(data)  # page cache, ~50 kB: cheaper than a thread hop
                    pcm_bytes += len(data)
                    refs.append(ChunkRef.of(seqs[key], key, data))
        yield Spool(path, pcm_bytes, tuple(refs))
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def assemble_recording(
    storage: Storage,
    bot_id: str,
    fmt: RecordingFormat = "ogg",
    *,
    bitrate_kbps: int | None = None,
    ffmpeg: str = "ffmpeg",
    spool: Spool | None = None,
) -> RecordingInfo:
    """Join a bot's chunks into ``bots/<id>/recording.<fmt>`` and store it.

    ``ogg`` is Opus (32 kb/s by default), ``mp3`` is LAME (48 kb/s), both encoded by ffmpeg;
    ``wav`` is 16-bit PCM written here. ``spool``: the chunks already fetched (else they are,
    here). Ogg and MP3 reuse the segments encoded during the call that match the spool's chunks
    (:func:`~meetbot.control.media.recording_segments.encode_recording`). Raises
    :class:`NoAudio` if the bot has no chunks and :class:`RecordingFailed` if ffmpeg fails.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown recording format {fmt!r}; expected one of {FORMATS}.")
    if spool is None:
        async with spooled(storage, bot_id) as own:
            return await assemble_recording(
                storage, bot_id, fmt, bitrate_kbps=bitrate_kbps, ffmpeg=ffmpeg, spool=own
            )
    if spool.pcm_bytes == 0:
        raise NoAudio(f"Bot {bot_id} has no recorded audio.")
    pcm_bytes = spool.pcm_bytes
    if fmt == "wav":
        data = await asyncio.to_thread(_wav, spool)
    else:
        codec = audio_codec_args(fmt, bitrate_kbps or DEFAULT_BITRATE_KBPS[fmt])
        data, _ = await encode_recording(
            storage, bot_id, spool.path, spool.chunks, codec, ffmpeg=ffmpeg
        )
    key = recording_key(bot_id, fmt)
    await storage.put(key, data, CONTENT_TYPES[fmt])
    return RecordingInfo(
        key=key,
        format=fmt,
        duration_s=pcm_bytes / BYTES_PER_SECOND,
        size_bytes=len(data),
        content_type=CONTENT_TYPES[fmt],
    )


def wav_header(data_bytes: int) -> bytes:
    """The 44-byte RIFF header of a 16 kHz mono 16-bit PCM WAV with this much sample data."""
    if not 0 <= data_bytes <= _MAX_WAV_DATA:
        raise ValueError("Too much audio for one WAV file (4 GiB).")
    block_align = CHANNELS * SAMPLE_WIDTH
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        CHANNELS,
        SAMPLE_RATE,
        BYTES_PER_SECOND,
        block_align,
        SAMPLE_WIDTH * 8,
        b"data",
        data_bytes,
    )


def _wav(spool: Spool) -> bytes:
    return wav_header(spool.pcm_bytes) + spool.path.read_bytes()


__all__ = [
    "CONTENT_TYPES",
    "NoAudio",
    "RecordingInfo",
    "Spool",
    "VideoInfo",
    "assemble_recording",
    "iter_chunks",
    "list_chunks",
    "load_pcm",
    "spooled",
    "wav_header",
]

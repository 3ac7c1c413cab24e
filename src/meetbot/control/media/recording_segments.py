"""Recording segments: the recording encoded while the call goes on, a run of chunks at a time.

Encoding an hour of Opus takes ~27 s of one core, too long to do after the call (issue 18:
leave → ``finished`` ≤ 15 s). So while a bot records,
:class:`~meetbot.control.media.segment_recorder.SegmentRecorder` (fed the
``chunk_stored`` reaction, like live transcription) encodes each *completed* segment, chunks
``seq`` ``k·n … (k+1)·n - 1`` (``n`` = :data:`SEGMENT_CHUNKS`, ~300 s of the runner's 1.5 s
chunks), in the background into its own stored object. At the end
:func:`encode_recording` reuses every segment whose chunks are exactly the ones it is joining,
encodes the rest (the tail, and anything it could not trust) and joins the pieces without
re-encoding (ffmpeg's concat demuxer, ``-c copy``).

Keys (under ``bots/<id>/segments/``, which a runner may not write:
:func:`~meetbot.contract.media_format.runner_may_store`):

- ``<first seq:08d>.<ogg|mp3>``: the segment's audio;
- ``<first seq:08d>.json``: its manifest, written after the audio: the codec arguments, every
  chunk it was built from (``seq``, key, size, CRC-32 of the bytes encoded) and the audio's size
  and SHA-256. The final pass compares the chunks with the ones it spooled and the audio with
  the hash, so a segment that is stale (a chunk rewritten or late), partial, or raced by another
  replica is simply encoded again: the recording is always complete and correct, only the speed
  depends on the segments.

Why 300 s: the final pass then encodes at most ~300 s of audio after the call (~2.3 s of one
core at Opus complexity 5), and an hour has 12 joins. Each join adds one codec frame of
padding: ~20 ms with Opus, ~96 ms with MP3 (LAME's delay and padding), so the joined file is
longer than the PCM by that much per segment boundary (measured in ``docs/benchmarks.md``).
WAV has no segments (it is the PCM with a header).

The recorder holds no media lease: the pipeline takes it at leave, and an encode holding it
would push the end to the next scan. Two replicas encoding one segment cost time, never
correctness (the manifest's hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from meetbot.contract.media_format import (
    CHANNELS,
    FORMATS,
    SAMPLE_RATE,
    RecordingFormat,
    segment_prefix,
)
from meetbot.control.media.ffmpeg import encode
from meetbot.ports import Storage
from meetbot.storage import ObjectNotFound

SEGMENT_CHUNKS: Final = 200
"""Chunks per segment: 300 s of the runner's 1.5 s chunks (see the module docstring)."""

PCM_INPUT: Final = ("-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS))
_MANIFEST_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """One chunk as it was read: its ``seq``, key, size (after alignment) and CRC-32."""

    seq: int
    key: str
    size: int
    crc: int

    @classmethod
    def of(cls, seq: int, key: str, data: bytes) -> ChunkRef:
        return cls(seq, key, len(data), zlib.crc32(data))


@dataclass(frozen=True, slots=True)
class Manifest:
    """What one stored segment was built from (see the module docstring)."""

    codec: tuple[str, ...]
    chunks: tuple[ChunkRef, ...]
    audio_bytes: int
    audio_sha256: str

    def to_bytes(self) -> bytes:
        doc = {
            "version": _MANIFEST_VERSION,
            "codec": list(self.codec),
            "chunks": [[c.seq, c.key, c.size, c.crc] for c in self.chunks],
            "audio_bytes": self.audio_bytes,
            "audio_sha256": self.audio_sha256,
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest | None:
        """The manifest, or ``None`` for anything else (another version, a broken file)."""
        try:
            doc: Any = json.loads(data)
            if doc["version"] != _MANIFEST_VERSION:
                return None
            chunks = tuple(
                ChunkRef(int(seq), str(key), int(size), int(crc))
                for seq, key, size, crc in doc["chunks"]
            )
            codec = tuple(str(arg) for arg in doc["codec"])
            return cls(codec, chunks, int(doc["audio_bytes"]), str(doc["audio_sha256"]))
        except (ValueError, TypeError, KeyError):
            return None


def segment_audio_key(bot_id: str, first_seq: int, fmt: RecordingFormat) -> str:
    return f"{segment_prefix(bot_id)}{first_seq:08d}.{fmt}"


def segment_manifest_key(bot_id: str, first_seq: int) -> str:
    return f"{segment_prefix(bot_id)}{first_seq:08d}.json"


def segment_format(codec: Sequence[str]) -> RecordingFormat:
    fmt = codec[-1]
    for known in FORMATS:
        if known == fmt:
            return known
    raise ValueError(f"Not a segment codec: {codec!r}")


# --- the final pass ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reuse:
    """A stored segment that covers the spool's chunks ``start … end - 1`` exactly."""

    start: int
    end: int
    audio: bytes


async def reusable(
    storage: Storage, bot_id: str, chunks: Sequence[ChunkRef], codec: Sequence[str]
) -> list[Reuse]:
    """The stored segments that can stand for runs of ``chunks`` (the spooled ones, in order):
    same codec, exactly the same chunks (key, size, CRC), audio matching its hash; in order,
    never overlapping."""
    keys = set(await storage.list(segment_prefix(bot_id)))
    index = {chunk.seq: i for i, chunk in enumerate(chunks)}
    manifests: list[tuple[int, str, Manifest]] = []
    for key in sorted(k for k in keys if k.endswith(".json")):
        try:
            manifest = Manifest.from_bytes(await storage.get(key))
        except ObjectNotFound:
            continue
        if manifest is None or manifest.codec != tuple(codec) or not manifest.chunks:
            continue
        first = index.get(manifest.chunks[0].seq)
        if first is not None:
            manifests.append((first, key, manifest))
    found: list[Reuse] = []
    free = 0
    for first, key, manifest in sorted(manifests, key=lambda m: m[0]):
        end = first + len(manifest.chunks)
        if first < free or tuple(chunks[first:end]) != manifest.chunks:
            continue
        audio_key = key.removesuffix(".json") + "." + segment_format(codec)
        try:
            audio = await storage.get(audio_key)
        except ObjectNotFound:
            continue
        if len(audio) != manifest.audio_bytes or (
            hashlib.sha256(audio).hexdigest() != manifest.audio_sha256
        ):
            continue
        found.append(Reuse(first, end, audio))
        free = end
    return found


async def encode_recording(
    storage: Storage,
    bot_id: str,
    pcm: Path,
    chunks: Sequence[ChunkRef],
    codec: Sequence[str],
    *,
    ffmpeg: str = "ffmpeg",
) -> tuple[bytes, int]:
    """The recording of the spool ``pcm`` (made of ``chunks``, in order) encoded with
    ``codec``: the segments that can be reused joined with the rest, encoded now. Returns the
    file's bytes and how many segments were reused (0: encoded in one piece, as without
    segments)."""
    fmt = segment_format(codec)
    reuse = await reusable(storage, bot_id, chunks, codec) if chunks else []
    out = pcm.with_name(f"recording.{fmt}")
    if not reuse:
        await encode(
            [*PCM_INPUT, "-i", str(pcm), "-threads", "1", *codec, "-y", str(out)], ffmpeg=ffmpeg
        )
        return await asyncio.to_thread(out.read_bytes), 0
    offsets = [0]
    for chunk in chunks:
        offsets.append(offsets[-1] + chunk.size)
    pieces: list[Path] = []
    at = 0
    for n, part in enumerate([*reuse, None]):
        start = part.start if part is not None else len(chunks)
        if start > at:  # chunks no segment stands for: encode them now
            piece = pcm.with_name(f"piece-{n}-new.{fmt}")
            await _encode_range(pcm, offsets[at], offsets[start], piece, codec, ffmpeg)
            pieces.append(piece)
        if part is not None:
            piece = pcm.with_name(f"piece-{n}.{fmt}")
            await asyncio.to_thread(piece.write_bytes, part.audio)
            pieces.append(piece)
            at = part.end
    listing = pcm.with_name("pieces.txt")
    lines = "".join(f"file '{_quoted(p)}'\n" for p in pieces)
    await asyncio.to_thread(listing.write_text, lines)
    args = ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-f", fmt]
    await encode([*args, "-y", str(out)], ffmpeg=ffmpeg)
    return await asyncio.to_thread(out.read_bytes), len(reuse)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "'\\''")


async def _encode_range(
    pcm: Path, begin: int, end: int, out: Path, codec: Sequence[str], ffmpeg: str
) -> None:
    part = out.with_suffix(".pcm")
    await asyncio.to_thread(_copy_range, pcm, begin, end, part)
    try:
        await encode(
            [*PCM_INPUT, "-i", str(part), "-threads", "1", *codec, "-y", str(out)], ffmpeg=ffmpeg
        )
    finally:
        part.unlink(missing_ok=True)


def _copy_range(source: Path, begin: int, end: int, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        src.seek(begin)
        left = end - begin
        while left > 0:
            block = src.read(min(left, 1 << 20))
            if not block:
                break
            dst.write(block)
            left -= len(block)


__all__ = [
    "PCM_INPUT",
    "SEGMENT_CHUNKS",
    "ChunkRef",
    "Manifest",
    "Reuse",
    "encode_recording",
    "reusable",
    "segment_audio_key",
    "segment_format",
    "segment_manifest_key",
]

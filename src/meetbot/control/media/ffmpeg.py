"""The one place meetbot runs ffmpeg: encoding a file, or a stream written to its stdin.

Both raise :class:`RecordingFailed` when ffmpeg is missing or exits with an error (the last
2,000 characters of its stderr in the message) and kill ffmpeg if the caller is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Final

from meetbot.errors import MeetbotError


class RecordingFailed(MeetbotError):
    """The encoder failed (ffmpeg missing, or exiting with an error)."""

    status = 500
    code = "recording_failed"


DEFAULT_BITRATE_KBPS: Final[Mapping[str, int]] = {"ogg": 32, "mp3": 48}


def audio_codec_args(fmt: str, kbps: int | None = None) -> list[str]:
    """The output arguments of a recording in ``fmt`` (``ogg``: Opus, ``mp3``: LAME), at
    ``kbps`` (default :data:`DEFAULT_BITRATE_KBPS`); the last one is the muxer's name."""
    rate = f"{kbps or DEFAULT_BITRATE_KBPS[fmt]}k"
    if fmt == "ogg":
        # Complexity 5 instead of libopus's default 10: ~half the encode time for the same
        # size on speech (measured: 7 s instead of 12-13 s per 10 minutes on 2 cores).
        return [
            "-c:a", "libopus", "-b:a", rate, "-application", "voip",
            "-compression_level", "5", "-f", "ogg",
        ]  # fmt: skip
    if fmt == "mp3":
        return ["-c:a", "libmp3lame", "-b:a", rate, "-f", "mp3"]
    raise ValueError(f"No audio codec for {fmt!r}.")


def _command(ffmpeg: str, args: Sequence[str]) -> list[str]:
    return [ffmpeg, "-hide_banner", "-loglevel", "error", *args]


async def _start(ffmpeg: str, args: Sequence[str], *, stdin: int) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *_command(ffmpeg, args),
            stdin=stdin,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise RecordingFailed(f"ffmpeg not found ({ffmpeg!r}); install it.") from None


def _failed(returncode: int | None, stderr: bytes) -> RecordingFailed:
    errors = stderr.decode("utf-8", "replace").strip()
    return RecordingFailed(f"ffmpeg exited with status {returncode}: {errors[-2000:]}")


async def encode(args: Sequence[str], *, ffmpeg: str = "ffmpeg") -> None:
    """Run ``ffmpeg <args>`` (inputs and output in ``args``) to the end."""
    proc = await _start(ffmpeg, args, stdin=asyncio.subprocess.DEVNULL)
    try:
        _, stderr = await proc.communicate()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise _failed(proc.returncode, stderr)


class Feed:
    """ffmpeg's stdin, for :func:`piped`."""

    def __init__(self, stdin: asyncio.StreamWriter) -> None:
        self._stdin = stdin
        self.broken = False

    async def write(self, data: bytes) -> None:
        """Write ``data``; once ffmpeg has exited early, later writes are dropped."""
        if self.broken:
            return
        try:
            self._stdin.write(data)
            await self._stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self.broken = True  # ffmpeg exited early; its status and stderr say why


@asynccontextmanager
async def piped(args: Sequence[str], *, ffmpeg: str = "ffmpeg") -> AsyncIterator[Feed]:
    """Run ``ffmpeg <args>`` reading ``pipe:0``; the block writes to the :class:`Feed`. On
    leaving the block stdin is closed and ffmpeg awaited; a failure raises on exit."""
    proc = await _start(ffmpeg, args, stdin=asyncio.subprocess.PIPE)
    if proc.stdin is None or proc.stderr is None:  # pragma: no cover - PIPE was asked
        raise RecordingFailed("ffmpeg started without pipes.")
    stderr = asyncio.ensure_future(proc.stderr.read())
    feed = Feed(proc.stdin)
    try:
        yield feed
        if not feed.broken:
            try:
                proc.stdin.close()
                await proc.stdin.wait_closed()
            except (BrokenPipeError, ConnectionResetError):
                pass
        returncode = await proc.wait()
    except BaseException:
        proc.kill()
        await proc.wait()
        stderr.cancel()
        raise
    output = await stderr
    if returncode != 0:
        raise _failed(returncode, output)


async def decode_pcm(
    data: bytes, *, input_format: str, rate: int, max_seconds: float, ffmpeg: str = "ffmpeg"
) -> bytes:
    """``data`` (a file of ``input_format``: ``wav``, ``mp3``, ``ogg``, ``matroska``) as mono
    s16le PCM at ``rate``, at most ``max_seconds`` of it (``output_audio``'s clips)."""
    args = [
        *("-f", input_format, "-i", "pipe:0", "-t", f"{max_seconds:.3f}"),
        *("-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1"),
    ]
    try:
        proc = await asyncio.create_subprocess_exec(
            *_command(ffmpeg, args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise RecordingFailed(f"ffmpeg not found ({ffmpeg!r}); install it.") from None
    try:
        out, stderr = await proc.communicate(data)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise _failed(proc.returncode, stderr)
    return out

"""The meeting view on video: the frame chunks a runner writes, and the MP4 made of them.

A runner asked for ``recording.video`` stores JPEG frames of its page (DevTools screenshots,
:mod:`meetbot.runner.video`) in frame chunks (:mod:`meetbot.contract.media_format`), a few
seconds each, so a crashed runner loses at most the chunk in progress (the media pipeline
deletes them once they are in the MP4). Frames arrive when the page changes, so their
spacing varies: :class:`Resampler` turns them into a constant rate (each output frame shows the
latest frame captured by its time) over the audio's duration, and :func:`build_video` pipes that
through ffmpeg (H.264 + the recording's audio as AAC) into ``bots/<id>/recording.mp4``.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Final

from meetbot.contract.media_format import (
    CHANNELS,
    DEFAULT_FPS,
    DEFAULT_SIZE,
    SAMPLE_RATE,
    Frame,
    unpack_frames,
    video_chunk_seq,
    video_key,
    video_prefix,
)
from meetbot.control.media.audio_file import Spool, VideoInfo, iter_chunks
from meetbot.control.media.ffmpeg import RecordingFailed, piped
from meetbot.errors import NotReady
from meetbot.ports import Storage

PRESET: Final = "ultrafast"
"""x264 preset. A minute of 1280x720 frames that all differ (the worst case), 5 fps, on this
2-core machine: ultrafast 2.4 s of CPU and 9.8 MiB, superfast 3.4 s / 7.2 MiB, veryfast 4.6 s /
4.3 MiB; a real meeting view (mostly still) is far smaller. CPU decides how long a video bot
stays ``processing``."""


class NoVideo(NotReady):
    """The bot stored no video frames."""


class Resampler:
    """Frames at irregular times in (time order), frames at ``fps`` out.

    Output frame ``k`` (at ``k / fps`` s) shows the latest input frame with ``t <= k / fps``,
    or the first input frame while none is that old; nothing is shown at or after ``until``.
    """

    def __init__(self, fps: float, until: float | None = None) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.fps = fps
        self.until = until
        self.emitted = 0
        self._current: bytes | None = None

    def _due(self, before: float) -> Iterator[int]:
        limit = before if self.until is None else min(before, self.until)
        while self.emitted / self.fps < limit - 1e-9:
            yield self.emitted
            self.emitted += 1

    def push(self, frame: Frame) -> list[bytes]:
        """The output frames due before ``frame`` takes over."""
        shown = self._current if self._current is not None else frame.jpeg
        out = [shown for _ in self._due(frame.t)]
        self._current = frame.jpeg
        return out

    def finish(self, end: float) -> list[bytes]:
        """The output frames up to ``end`` (the video's duration)."""
        if self._current is None:
            return []
        return [self._current for _ in self._due(end)]


async def list_video_chunks(storage: Storage, bot_id: str) -> list[str]:
    """The keys of a bot's frame chunks in ``seq`` order (gaps left out)."""
    found = [(video_chunk_seq(key), key) for key in await storage.list(video_prefix(bot_id))]
    return [key for seq, key in sorted((s, k) for s, k in found if s is not None)]


async def iter_frames(storage: Storage, keys: Sequence[str]) -> AsyncIterator[Frame]:
    """Every stored frame in time order (a frame older than the last one is dropped)."""
    last = float("-inf")
    async with aclosing(iter_chunks(storage, keys, align=1)) as chunks:
        async for data in chunks:
            for frame in unpack_frames(data):
                if frame.t >= last:
                    last = frame.t
                    yield frame


async def build_video(
    storage: Storage,
    bot_id: str,
    spool: Spool | None,
    *,
    fps: float = DEFAULT_FPS,
    size: tuple[int, int] = DEFAULT_SIZE,
    ffmpeg: str = "ffmpeg",
) -> VideoInfo:
    """Make and store ``bots/<id>/recording.mp4`` from the frame chunks and the spooled audio
    (its duration is the audio's, or the frames' span without audio). Raises :class:`NoVideo`
    without frames, :class:`RecordingFailed` if ffmpeg fails."""
    keys = await list_video_chunks(storage, bot_id)
    if not keys:
        raise NoVideo(f"Bot {bot_id} stored no video frames.")
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="meetbot-video-"))
    try:
        return await _encode(
            storage, bot_id, keys, spool, workdir / "recording.mp4", fps, size, ffmpeg
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _encode(
    storage: Storage,
    bot_id: str,
    keys: Sequence[str],
    spool: Spool | None,
    out: Path,
    fps: float,
    size: tuple[int, int],
    ffmpeg: str,
) -> VideoInfo:
    audio = spool is not None and spool.pcm_bytes > 0
    until = spool.duration_s if spool is not None and audio else None
    width, height = size
    args = ["-f", "image2pipe", "-c:v", "mjpeg", "-framerate", f"{fps:g}", "-i", "pipe:0"]
    if spool is not None and audio:
        args += ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS)]
        args += ["-i", str(spool.path), "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "64k"]
    scale = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,format=yuv420p"
    )
    args += ["-vf", scale, "-c:v", "libx264", "-preset", PRESET, "-crf", "30"]
    args += ["-threads", "2", "-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    resampler = Resampler(fps, until)
    last_t = 0.0
    async with piped(args, ffmpeg=ffmpeg) as feed:
        async for frame in iter_frames(storage, keys):
            last_t = frame.t
            for jpeg in resampler.push(frame):
                await feed.write(jpeg)
        end = until if until is not None else last_t + 1 / fps
        for jpeg in resampler.finish(end):
            await feed.write(jpeg)
    if resampler.emitted == 0:
        raise RecordingFailed("ffmpeg was given no frames.")
    data = await asyncio.to_thread(out.read_bytes)
    key = video_key(bot_id)
    await storage.put(key, data, "video/mp4")
    return VideoInfo(
        key=key,
        duration_s=resampler.emitted / fps,
        size_bytes=len(data),
        width=width,
        height=height,
        fps=fps,
    )


__all__ = ["NoVideo", "Resampler", "build_video", "iter_frames", "list_video_chunks"]

"""The one place meetbot runs espeak-ng: text to speech for ``output_audio`` (issue 16 §2).

espeak-ng is installed by ``make install`` (an offline voice). :func:`voices` lists the
language codes it speaks (``espeak-ng --voices``), :func:`speak` says a text in one of them
as a WAV file (decoded to PCM by :mod:`meetbot.control.media.ffmpeg` like an uploaded file).
"""

from __future__ import annotations

import asyncio

from meetbot.control.media.ffmpeg import RecordingFailed


class SpeechFailed(RecordingFailed):
    """espeak-ng is missing or failed."""

    code = "speech_failed"


async def _run(espeak: str, *args: str) -> bytes:
    try:
        proc = await asyncio.create_subprocess_exec(
            espeak,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise SpeechFailed(f"espeak-ng not found ({espeak!r}); run make install.") from None
    try:
        out, err = await proc.communicate()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        text = err.decode("utf-8", "replace").strip()[-2000:]
        raise SpeechFailed(f"espeak-ng exited with status {proc.returncode}: {text}")
    return out


def parse_voices(listing: str) -> tuple[str, ...]:
    """The language codes of ``espeak-ng --voices`` (its second column), sorted."""
    codes = {line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1}
    return tuple(sorted(codes))


async def voices(espeak: str = "espeak-ng") -> tuple[str, ...]:
    """The voices espeak-ng speaks, by language code (``en-us``, ``de``, ...)."""
    return parse_voices((await _run(espeak, "--voices")).decode("utf-8", "replace"))


async def speak(text: str, voice: str, espeak: str = "espeak-ng") -> bytes:
    """``text`` said by ``voice`` (a code from :func:`voices`), as a WAV file."""
    return await _run(espeak, "-v", voice, "--stdout", "--", text)

"""Streaming in (issue 16 §2): PCM a client sends on a bot's stream, played as the bot's voice.

The format is the one the stream sends out (:mod:`meetbot.contract.media_format`): 16 kHz
mono signed 16-bit little-endian PCM, one binary WebSocket frame at a time, any length from
one sample to :data:`MAX_FRAME_BYTES` (20 ms frames are the usual; frames are played in the
order sent, back to back).

The path to the runner: the control plane relays each frame to the runner's **voice
socket**, ``GET /internal/bots/{id}/voice`` (a WebSocket the runner opens with its per-bot
token, ``Authorization: Bearer``), binary frames as they came. The runner buffers at most
:data:`MAX_BUFFER_S` of it (the oldest is dropped beyond, and counted) and plays it into the
bot's microphone, unmuted while it plays.
"""

from __future__ import annotations

from typing import Final

from meetbot.contract.media_format import BYTES_PER_SECOND, SAMPLE_RATE, SAMPLE_WIDTH

__all__ = [
    "BYTES_PER_SECOND",
    "MAX_BUFFER_S",
    "MAX_FRAME_BYTES",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "VOICE_PATH",
    "check_frame",
]

MAX_BUFFER_S: Final = 0.3
"""At most this much of the streamed voice waits anywhere on its way (the runner's buffer
and what the page has scheduled ahead together)."""
MAX_FRAME_BYTES: Final = BYTES_PER_SECOND
"""One second: a longer frame could not be played within :data:`MAX_BUFFER_S` anyway."""
VOICE_PATH: Final = "/internal/bots/{bot_id}/voice"


def check_frame(frame: bytes) -> str | None:
    """Why ``frame`` is not streamed-in PCM, or ``None`` when it is."""
    if not frame:
        return "an empty frame"
    if len(frame) % SAMPLE_WIDTH:
        return f"{len(frame)} bytes: 16-bit samples take an even number of bytes"
    if len(frame) > MAX_FRAME_BYTES:
        return f"{len(frame)} bytes: a frame is at most {MAX_FRAME_BYTES} bytes (1 s)"
    return None

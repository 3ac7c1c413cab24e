"""The live copy of a bot's mixed audio (issue 16 §1): from its runner to the control plane as
it is heard, beside the recording.

The recording trails the call by the runner's holdback (2 s on the RTP path: a late packet is
still placed) and is reported in 1.5 s chunks once stored. The live copy does not wait: the
runner takes the mixed audio every :data:`LIVE_TICK` with a holdback of :data:`LIVE_HOLDBACK`
only (a packet later than that is missing from the live copy, never from the recording), in
pieces of at most :data:`PIECE_SECONDS`, and sends each on its **live socket**,
``GET /internal/bots/{id}/live`` (a WebSocket the runner opens with its per-bot token,
``Authorization: Bearer``, as its voice socket). A frame is :func:`live_frame`: where the
piece starts on the recording's clock (a big-endian uint64 count of samples since the
recording's origin), then 16 kHz mono s16le PCM.
Pieces come in order; a gap (the socket reconnected, the runner's queue overflowed) is a jump
of the offset.
"""

from __future__ import annotations

import struct
from typing import Final

from meetbot.contract.media_format import BYTES_PER_SECOND, SAMPLE_RATE, SAMPLE_WIDTH

PIECE_SECONDS: Final = 0.25
"""The longest piece (a tick after a stall gives several)."""
LIVE_TICK: Final = 0.05
"""How often the runner takes the live copy's new audio: a piece is usually this long."""
LIVE_HOLDBACK: Final = 0.2
"""Seconds a run of RTP audio may arrive late and still be in the live copy (the page hands
its runs over every 100 ms)."""
LIVE_PATH: Final = "/internal/bots/{bot_id}/live"
MAX_PIECE_BYTES: Final = BYTES_PER_SECOND
"""What the control plane accepts as one piece (one second)."""
_OFFSET: Final = struct.Struct(">Q")
HEADER_BYTES: Final = _OFFSET.size


def live_frame(offset_samples: int, pcm: bytes) -> bytes:
    """A frame of the live socket: the piece's first sample on the recording's clock, PCM."""
    return _OFFSET.pack(max(0, offset_samples)) + pcm


def parse_live_frame(frame: bytes) -> tuple[int, bytes] | None:
    """``(offset in samples, PCM)`` of a :func:`live_frame`; ``None`` when it is not one."""
    pcm = frame[HEADER_BYTES:]
    if len(frame) <= HEADER_BYTES or len(pcm) % SAMPLE_WIDTH or len(pcm) > MAX_PIECE_BYTES:
        return None
    (offset,) = _OFFSET.unpack_from(frame)
    return offset, pcm


def seconds(samples: int) -> float:
    return samples / SAMPLE_RATE

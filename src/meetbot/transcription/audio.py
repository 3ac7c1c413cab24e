"""16 kHz mono PCM helpers: conversions, WAV encoding, file decoding, cutting at quiet points."""

from __future__ import annotations

import io
import wave
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TypeAlias

if TYPE_CHECKING:  # numpy when samples are made: `meetbot serve` starts without it
    import numpy as np
    import numpy.typing as npt

SAMPLE_RATE: Final = 16_000

Samples: TypeAlias = "npt.NDArray[np.float32]"


def as_samples(pcm: Any) -> Samples:
    """Mono float32 samples in [-1, 1] from any array-like (a copy only when needed)."""
    import numpy as np

    samples = np.asarray(pcm, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {samples.shape}")
    return samples


def int16_to_float(data: bytes) -> Samples:
    """Little-endian int16 PCM bytes → float32 samples."""
    import numpy as np

    if len(data) % 2:
        raise ValueError("int16 PCM must have an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_int16(samples: Samples) -> bytes:
    import numpy as np

    clipped = np.clip(samples, -1.0, 32767 / 32768)
    return (clipped * 32768.0).round().astype("<i2").tobytes()


def to_wav_bytes(samples: Samples, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono WAV file in memory (what the vendor adapters upload)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(float_to_int16(samples))
    return buffer.getvalue()


def load_audio(source: str | Path | BinaryIO) -> Samples:
    """Decode any audio/video file (Ogg/Opus, WAV, MP3, MP4, ...) to 16 kHz mono float32."""
    from faster_whisper.audio import decode_audio

    src: str | BinaryIO = str(source) if isinstance(source, Path) else source
    return as_samples(decode_audio(src, sampling_rate=SAMPLE_RATE))


def split_points(
    samples: Samples,
    max_piece: float,
    *,
    search: float = 10.0,
    frame: float = 0.1,
    sample_rate: int = SAMPLE_RATE,
) -> list[int]:
    """Sample indices at which to cut ``samples`` into pieces of at most ``max_piece`` seconds.

    Each cut is placed at the quietest ``frame`` in the last ``search`` seconds before the limit,
    so a cut rarely falls inside a word. Returns the inner cut points only (may be empty).
    """
    import numpy as np

    limit = int(max_piece * sample_rate)
    if limit <= 0:
        raise ValueError("max_piece must be positive")
    hop = max(1, int(frame * sample_rate))
    window = min(int(search * sample_rate), limit // 2)
    cuts: list[int] = []
    start = 0
    while len(samples) - start > limit:
        lo, hi = start + limit - window, start + limit
        region = samples[lo:hi]
        n = max(1, len(region) // hop)
        energy = np.square(region[: n * hop].reshape(n, hop)).mean(axis=1)
        # Ties go to the latest frame: longer pieces, fewer cuts.
        best = n - 1 - int(np.argmin(energy[::-1]))
        cut = lo + best * hop + hop // 2
        cuts.append(cut)
        start = cut
    return cuts


def pieces(samples: Samples, max_piece: float) -> list[tuple[int, Samples]]:
    """``(start_index, piece)`` pairs covering ``samples``, each at most ``max_piece`` long."""
    bounds = [0, *split_points(samples, max_piece), len(samples)]
    return [(a, samples[a:b]) for a, b in pairwise(bounds) if b > a]

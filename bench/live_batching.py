"""Live decoding of several streams on one model: one decode each, or one batched decode.

Each stream is a live window of espeak-ng speech (``--window`` seconds, as the live transcriber
re-decodes it); for each number of streams N in ``--streams``, the same N windows are decoded
``--rounds`` times (a) one after the other with ``WhisperTranscriber.transcribe`` (what live
transcription did before batching) and (b) in one ``transcribe_many`` call (what a
``StreamBatcher`` does when N bots' decodes pile up). Printed: wall seconds per round, the
speed-up, and the real-time factor per stream (decode time ÷ audio time, for N streams that
each need a decode per ``--interval`` seconds of audio: ``rtf = round_time / interval``; below
1 the host keeps up with N streams).

    .venv/bin/python bench/live_batching.py [--model whisper-base] [--streams 1 2 4 8]
        [--window 8] [--interval 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from meetbot.transcription import weights
from meetbot.transcription.audio import SAMPLE_RATE, Samples, load_audio
from meetbot.transcription.factory import build_transcriber
from meetbot.transcription.models import validate_model
from meetbot.transcription.whisper import WhisperTranscriber

SENTENCES = (
    "Please send the quarterly report to the finance team before Friday.",
    "The new office will open next spring near the river.",
    "We agreed to review the budget together after lunch.",
    "Four score and seven years ago our fathers brought forth a new nation.",
    "The meeting is moved to Thursday because the room is booked.",
    "Remember to bring the signed contracts and the spare keys.",
    "Our customers asked for a faster way to export their data.",
    "The train leaves at nine and arrives before noon on Sunday.",
)


def window(seconds: float, index: int, folder: Path) -> Samples:
    parts: list[Samples] = []
    total = 0
    i = index
    while total < seconds * SAMPLE_RATE:
        raw = folder / f"{i % len(SENTENCES)}.wav"
        if not raw.exists():
            text = SENTENCES[i % len(SENTENCES)]
            command = ["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), text]
            subprocess.run(command, check=True)
        speech = load_audio(raw)
        parts += [speech, np.zeros(SAMPLE_RATE // 4, dtype=np.float32)]
        total += len(speech) + SAMPLE_RATE // 4
        i += 1
    return np.concatenate(parts)[: round(seconds * SAMPLE_RATE)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    models = Path(os.environ.get("MEETBOT_MODELS_DIR", weights.default_models_dir()))
    built = build_transcriber(validate_model(args.model), models_dir=models, live=True)
    assert isinstance(built, WhisperTranscriber)
    model = built
    print(
        f"{args.model} live (greedy), window {args.window:g} s, cpu count {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        pool = [window(args.window, i, Path(tmp)) for i in range(max(args.streams))]
        model.transcribe(pool[0])  # load and warm up
        model.transcribe_many([(pool[0], 0.0), (pool[1 % len(pool)], 10.0)])
        print("streams  one-by-one s  batched s  speed-up  rtf/stream one-by-one  batched")
        for n in args.streams:
            windows = [(pool[i], 10.0 * i) for i in range(n)]
            seq = batch = 0.0
            for _ in range(args.rounds):
                began = time.perf_counter()
                for samples, offset in windows:
                    model.transcribe(samples, offset=offset)
                seq += time.perf_counter() - began
                began = time.perf_counter()
                model.transcribe_many(windows)
                batch += time.perf_counter() - began
            seq /= args.rounds
            batch /= args.rounds
            print(
                f"{n:7d}  {seq:12.2f}  {batch:9.2f}  {seq / batch:7.2f}x"
                f"  {seq / args.interval:20.2f}  {batch / args.interval:7.2f}"
            )


if __name__ == "__main__":
    main()

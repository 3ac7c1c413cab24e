"""Transcription cost on this machine: RTF, WER, leave → finished, and 4 live streams at once.

Everything runs in this process, offline, with the product's own code and the pinned weights
(``whisper-base`` must be prepared: ``python -m meetbot.transcription.models --prepare``):

1. **batch**: each model as the media worker builds it (``build_transcriber``, beam 5) on a fixed
   clip of espeak-ng sentences: load time, RTF (decode time ÷ audio time), WER.
2. **live**: ``LiveTranscriber`` with the model's live policy (greedy, ``live_interval``), fed
   250 ms chunks as fast as it takes them: RTF, final WER (committed + ``finish()``), and how
   much audio had arrived after a segment's end when it was committed (commit lag).
3. **leave → finished** for a ``--meeting-minutes`` meeting, through the real
   ``MediaPipeline`` on a SQLite store and a ``LocalStorage``: the clip is repeated to that
   length and written as 1.5 s PCM chunks, reported through the real report handler; the
   product's ``LiveTranscription`` gets every chunk except the last ``--tail-seconds`` (as if
   live had fallen that far behind; ``--prefix batch`` instead stores a batch transcript of the
   prefix as the live transcript, which is much quicker to set up; ``tiled``: one decode of the
   clip laid at each repetition, quicker still), then the bot reports
   ``leaving`` + ``left`` and ``MediaPipeline.process`` is timed until ``finished``
   (recording assembly to Ogg/Opus and, alongside, tail transcription; then the merge), with
   when ``recording.json`` was stored and how long the tail job took (the code is
   ``pipeline_end.py``'s: ``pipeline_end.py --meeting-minutes 60`` runs this part alone).
4. **concurrent live**: ``--streams`` LiveTranscribers in threads, paced in real time (a 250 ms
   chunk every 250 ms), sharing one live model as the product does (``--separate-models``: one
   each, for comparison): process CPU % and RSS, and how far each stream fell behind real time
   (the product gives a bot up past 10 s).

    .venv/bin/python bench/transcription.py [--models whisper-base whisper-tiny.en]
        [--meeting-minutes 10] [--tail-seconds 20] [--prefix live|batch|tiled]
        [--streams 4] [--stream-seconds 60] [--skip batch live pipeline concurrent]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from meetbot.contract.media_format import SAMPLE_RATE
from meetbot.contract.models import Segment
from meetbot.lab.speech import make_speech
from meetbot.transcription.audio import load_audio
from meetbot.transcription.factory import build_transcriber, live_policy
from meetbot.transcription.models import validate_model
from meetbot.transcription.streaming import LiveTranscriber
from meetbot.transcription.weights import default_models_dir
from meetbot.transcription.wer import wer

SENTENCES = [
    "Good morning everyone and thank you for joining the weekly planning meeting.",
    "Please send the quarterly report to the finance team before Friday.",
    "We agreed to review the budget together after lunch.",
    "The design team will share the new mockups with the customers next week.",
    "Can someone take notes and post them in the project channel?",
    "I think we should move the release until the testing is complete.",
    "Our main goal this month is to reduce the waiting time for support tickets.",
    "Maria will contact the vendor about the delayed shipment.",
    "Let us schedule a short call with the marketing group on Thursday.",
    "The server migration went well but the backup job still needs attention.",
    "Please update the roadmap and remove the features we dropped.",
    "Before we finish, does anyone have questions about the hiring plan?",
]
TESTS = Path(__file__).resolve().parents[1] / "tests"
CHUNK_S = 0.25
MEETING_CHUNK_S = 1.5
MEET = "https://meet.google.com/abc-defg-hij"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def text_of(segments: list[Segment]) -> str:
    return " ".join(s.text for s in segments)


def speech_clip(workdir: Path) -> tuple[np.ndarray, str]:
    """The sentences as 16 kHz float32 samples, and the reference text."""
    speech = make_speech(SENTENCES, workdir / "clip.wav", lead_s=0.5, gap_s=0.8, tail_s=0.5)
    return load_audio(workdir / "clip.wav"), speech.text


# --- 1. batch -------------------------------------------------------------------------------


def bench_batch(model: str, samples: np.ndarray, reference: str) -> None:
    spec = validate_model(model)
    began = time.perf_counter()
    transcriber = build_transcriber(spec, models_dir=default_models_dir(), cpu_threads=2)
    assert transcriber is not None
    transcriber.load()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - began
    audio_s = len(samples) / SAMPLE_RATE
    transcriber.transcribe(samples[: SAMPLE_RATE * 5])  # warm-up
    began = time.perf_counter()
    segments = transcriber.transcribe(samples)
    spent = time.perf_counter() - began
    print(
        f"batch  model={model:<16} audio={audio_s:.1f}s load={load_s:.2f}s "
        f"decode={spent:.2f}s RTF={spent / audio_s:.3f} WER={wer(reference, text_of(segments)):.3f}"
    )


# --- 2. live --------------------------------------------------------------------------------


def bench_live(model: str, samples: np.ndarray, reference: str) -> None:
    spec = validate_model(model)
    transcriber = build_transcriber(spec, models_dir=default_models_dir(), live=True)
    assert transcriber is not None
    transcriber.load()  # type: ignore[attr-defined]
    live = LiveTranscriber(transcriber, live_policy(spec))
    step = round(CHUNK_S * SAMPLE_RATE)
    committed: list[Segment] = []
    lags: list[float] = []
    began = time.perf_counter()
    for start in range(0, len(samples), step):
        piece = samples[start : start + step]
        new = live.feed_samples(piece)
        heard = (start + len(piece)) / SAMPLE_RATE
        lags += [heard - s.end for s in new]
        committed += new
    committed += live.finish()
    wall = time.perf_counter() - began
    stats = live.stats
    print(
        f"live   model={model:<16} interval={live.policy.interval}s "
        f"audio={stats.audio_seconds:.1f}s "
        f"decodes={stats.decodes} decode={stats.decode_seconds:.2f}s RTF={stats.rtf:.3f} "
        f"(wall RTF {wall / stats.audio_seconds:.3f}) max_window={stats.max_window:.1f}s "
        f"WER={wer(reference, text_of(committed)):.3f} "
        f"commit_lag_audio_s p50={pct(lags, 0.5):.2f} max={max(lags, default=float('nan')):.2f}"
    )


# --- 4. concurrent live streams -------------------------------------------------------------


def bench_concurrent(
    model: str, clip: np.ndarray, streams: int, seconds: float, separate: bool
) -> None:
    spec = validate_model(model)
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    models = []
    for _ in range(streams if separate else 1):
        transcriber = build_transcriber(spec, models_dir=default_models_dir(), live=True)
        assert transcriber is not None
        transcriber.load()  # type: ignore[attr-defined]
        models.append(transcriber)
    rss_loaded = proc.memory_info().rss
    total = round(seconds * SAMPLE_RATE)
    step = round(CHUNK_S * SAMPLE_RATE)
    lags: list[float] = [0.0] * streams
    rtfs: list[float] = [0.0] * streams
    stop = threading.Event()
    peak = [rss_loaded]

    def sample_rss() -> None:
        while not stop.wait(0.25):
            peak[0] = max(peak[0], proc.memory_info().rss)

    def stream(i: int, start_at: float) -> None:
        live = LiveTranscriber(models[i % len(models)], live_policy(spec))
        shift = round(i * 7.3 * SAMPLE_RATE) % len(clip)
        audio = np.roll(np.tile(clip, -(-total // len(clip)) + 1), -shift)[:total]
        for n, start in enumerate(range(0, total, step)):
            due = start_at + (n + 1) * CHUNK_S  # a chunk is available when its audio ended
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            lags[i] = max(lags[i], time.monotonic() - due)
            live.feed_samples(audio[start : start + step])
        rtfs[i] = live.stats.rtf

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    cpu0 = proc.cpu_times()
    wall0 = time.monotonic()
    threads = [threading.Thread(target=stream, args=(i, wall0)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - wall0
    cpu1 = proc.cpu_times()
    stop.set()
    sampler.join()
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall * 100
    print(
        f"concurrent model={model:<16} streams={streams} "
        f"{'one model each' if separate else 'one shared model'} "
        f"audio={seconds:g}s each wall={wall:.1f}s "
        f"CPU={cpu:.0f}% (of {os.cpu_count()} cores = {os.cpu_count() or 1}00%) "
        f"RSS before load={rss_before / 2**20:.0f}MiB loaded={rss_loaded / 2**20:.0f}MiB "
        f"peak={peak[0] / 2**20:.0f}MiB"
    )
    print(
        f"concurrent model={model:<16} max lag behind real time per stream (s): "
        + " ".join(f"{lag:.1f}" for lag in lags)
        + "  decode RTF per stream (wall time in decode calls incl. lock waits / audio): "
        + " ".join(f"{r:.2f}" for r in rtfs)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["whisper-base", "whisper-tiny.en"])
    parser.add_argument("--meeting-minutes", type=float, default=10.0)
    parser.add_argument("--tail-seconds", type=float, default=20.0)
    parser.add_argument("--prefix", choices=("live", "batch", "tiled"), default="live")
    parser.add_argument("--pipeline-models", nargs="+", default=None)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--stream-seconds", type=float, default=60.0)
    parser.add_argument(
        "--separate-models",
        action="store_true",
        help="concurrent: one model per stream (the product shares one per model name)",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=("batch", "live", "pipeline", "concurrent")
    )
    parser.add_argument("--concurrent-child", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.concurrent_child:
        with tempfile.TemporaryDirectory(prefix="mb-bench-clip-") as tmp:
            clip, _ = speech_clip(Path(tmp))
        bench_concurrent(
            args.concurrent_child, clip, args.streams, args.stream_seconds, args.separate_models
        )
        return
    print(f"cpus={os.cpu_count()} load={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="mb-bench-clip-") as tmp:
        clip, reference = speech_clip(Path(tmp))
    print(f"clip: {len(SENTENCES)} espeak-ng sentences, {len(clip) / SAMPLE_RATE:.1f}s")
    for model in args.models:
        if "batch" not in args.skip:
            bench_batch(model, clip, reference)
        if "live" not in args.skip:
            bench_live(model, clip, reference)
    if "pipeline" not in args.skip:
        from pipeline_end import bench_pipeline  # section 3 lives there (a script beside this)

        for model in args.pipeline_models or args.models:
            asyncio.run(
                bench_pipeline(
                    model, clip, reference, args.meeting_minutes, args.tail_seconds, args.prefix
                )
            )
    if "concurrent" not in args.skip:
        for model in args.models:  # a fresh process each: RSS without the models above
            child = [sys.executable, __file__, "--concurrent-child", model]
            child += ["--streams", str(args.streams), "--stream-seconds", str(args.stream_seconds)]
            child += ["--separate-models"] if args.separate_models else []
            subprocess.run(child, check=True)
    print(f"load at end={' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

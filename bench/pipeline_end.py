"""The media pipeline's cost at the end of a call.

Two measures, through the real ``MediaPipeline``:

1. ``--bots N`` (default): how fast it ends bots that wrote no audio. The tail of
   ``webhooks.py`` (1,000 bots leave within seconds; their ``finished`` events come after the
   last report) is this rate. The control plane is built as ``meetbot serve`` builds it (SQLite
   file, or PostgreSQL with ``--postgres``; local storage; webhook delivery inline, no
   endpoint), ``--bots`` bots are stored in ``processing`` with transcription ``none``, and
   one pipeline worker ends them one after the other (read the bot, spool its chunks: none, end
   it ``finished`` with its ``status_update``). Nothing else runs: this is the pipeline's cost,
   not its share of a busy process.
2. ``--meeting-minutes M``: **leave → finished** for one bot of an M-minute meeting with
   ``--model`` (issue 18: ≤ 15 s for 60 minutes with whisper-base), on a SQLite store and a
   ``LocalStorage``: espeak-ng sentences (``bench/transcription.py``'s clip) repeated to that
   length, written as 1.5 s PCM chunks reported through the real report handler. The live
   transcript holds everything but the last ``--tail-seconds``: ``--prefix live`` feeds the
   product's ``LiveTranscription`` (real time, slow), ``batch`` stores a batch transcript of
   that prefix, ``tiled`` (quickest: one decode of the clip, its segments laid at each
   repetition). Then ``leaving`` + ``left``, and ``MediaPipeline.process`` is timed until
   ``finished`` (recording assembly to Ogg/Opus and, alongside, the tail pass; then the merge),
   with when ``recording.json`` was stored, how long the tail job took, and the final
   transcript's WER against the spoken text (it must stay complete). The product's
   ``SegmentRecorder`` follows the chunks as they are reported and encodes the recording ~300 s
   at a time during the "call" (each segment awaited, as a real-time call would leave it done;
   its cost is printed, outside leave → finished); ``--no-segments`` leaves it out (the whole
   recording is encoded after the call, as before issue 18's segments).

    .venv/bin/python bench/pipeline_end.py [--bots 1000] [--postgres]
    .venv/bin/python bench/pipeline_end.py --meeting-minutes 60 [--model whisper-base]
        [--tail-seconds 20] [--prefix tiled|batch|live] [--no-segments]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench_db import bench_database
from meetbot.config import Settings
from meetbot.contract.lifecycle import Status, StopReason
from meetbot.contract.media_format import SAMPLE_RATE, chunk_key
from meetbot.contract.models import Segment
from meetbot.contract.reports import (
    AudioChunk,
    BaseReport,
    InCall,
    Joining,
    Leaving,
    Left,
    ParticipantJoined,
    ReportBatch,
)
from meetbot.control.media.artifacts import TranscriptDoc, load_transcript, save_transcript
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.segment_recorder import SegmentRecorder
from meetbot.control.media.transcribers import Transcribers
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.server import build
from meetbot.control.service.runners import handle_reports
from meetbot.control.store import open_store
from meetbot.secrets_file import load_or_create_secret
from meetbot.storage import LocalStorage, open_storage
from meetbot.testing.builders import make_bot
from meetbot.transcription.audio import float_to_int16
from meetbot.transcription.models import validate_model
from meetbot.transcription.wer import wer

TESTS = Path(__file__).resolve().parents[1] / "tests"
MEETING_CHUNK_S = 1.5
MEET = "https://meet.google.com/abc-defg-hij"


# --- 1. bots with no audio --------------------------------------------------------------------


async def run(n: int, data_dir: Path, url: str | None) -> None:
    extra = {"database_url": url} if url else {}
    settings = Settings(launcher="fake", data_dir=data_dir, delivery="inline", **extra)
    plane = await build(settings)
    services = plane.services
    storage = open_storage(settings, load_or_create_secret(data_dir))
    pipeline = MediaPipeline(services, storage, Transcribers(settings))
    async with services.store.transaction() as tx:
        ids = [
            (
                await tx.bots.insert(make_bot(status=Status.PROCESSING, transcription_model="none"))
            ).id
            for _ in range(n)
        ]
    per_bot = []
    cpu, wall = time.process_time(), time.perf_counter()
    for bot_id in ids:
        began = time.perf_counter()
        await pipeline.process(bot_id)
        per_bot.append(time.perf_counter() - began)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    async with services.store.transaction(write=False) as tx:
        finished = len(await tx.bots.in_statuses((Status.FINISHED,)))
    await services.store.close()
    ms = sorted(t * 1000 for t in per_bot)
    print(f"{n} bots ended in {wall:.2f}s = {n / wall:.0f} bots/s; {finished}/{n} finished")
    print(
        f"per bot: p50={statistics.median(ms):.2f} ms p95={ms[int(0.95 * len(ms))]:.2f} ms; "
        f"CPU {cpu / n * 1000:.2f} ms (this process, all threads)"
    )


# --- 2. one bot of a long meeting -------------------------------------------------------------


def shifted(segment: Segment, by: float) -> Segment:
    words = tuple(dataclasses.replace(w, start=w.start + by, end=w.end + by) for w in segment.words)
    return dataclasses.replace(segment, start=segment.start + by, end=segment.end + by, words=words)


class TimedPool(TranscriptionPool):
    """The product's pool, timing each job (the tail pass is the only job after the call)."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.jobs: list[float] = []

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await super().run(fn, *args, **kwargs)
        finally:
            self.jobs.append(time.perf_counter() - began)


class TimedStorage(LocalStorage):
    """The product's local storage, noting when each media document is stored."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.stored: dict[str, float] = {}

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        await super().put(key, data, content_type)
        self.stored[key.rpartition("/")[2]] = time.perf_counter()


async def decoded_seconds(path: Path) -> float:
    """How long ``path`` is, decoded (every sample counted, not the container's word)."""
    proc = await asyncio.create_subprocess_exec(
        *("ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1"),
        *("-ar", str(SAMPLE_RATE), "-"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    total = 0
    while block := await proc.stdout.read(1 << 20):
        total += len(block)
    await proc.wait()
    return total / 2 / SAMPLE_RATE


async def bench_pipeline(
    model: str,
    clip: np.ndarray,
    reference: str,
    minutes: float,
    tail_s: float,
    prefix: str,
    segments_on: bool = True,
) -> None:
    sys.path.insert(0, str(TESTS))  # the test harness: a control plane on fakes
    from harness.plane import build_test_plane

    total = round(minutes * 60 * SAMPLE_RATE)
    reps = max(1, total // len(clip))
    # ``reps`` whole clips, each after an equal pause, fill the meeting: the reference text is
    # exact and the meeting ends with speech (the tail is real work).
    gap = np.zeros((total - reps * len(clip)) // reps, dtype=np.float32)
    samples = np.concatenate([gap, clip] * reps)
    pcm = float_to_int16(samples)
    with tempfile.TemporaryDirectory(prefix="mb-bench-asr-") as tmp:
        root = Path(tmp)
        store = await open_store(f"sqlite:///{root / 'meetbot.db'}")
        plane = await build_test_plane(store, data_dir=root, default_transcription_model=model)
        storage = TimedStorage(root / "media")
        transcribers = Transcribers(plane.services.settings)
        live_pool = TranscriptionPool(1)
        live = LiveTranscription(plane.services, storage, transcribers, live_pool)
        segments = SegmentRecorder(plane.services, storage) if segments_on else None
        segment_wall = 0.0
        async with plane.client() as client:
            r = await client.post(
                "/api/v1/bot/", json={"meeting_url": MEET, "transcription_model": model}
            )
            assert r.status_code == 201, r.text
            bot_id = r.json()["id"]
        assigned = plane.launcher.assigned(bot_id)
        assert assigned is not None

        async def report(*events: BaseReport) -> None:
            batch = ReportBatch(events=list(events))
            await handle_reports(plane.services, bot_id, assigned.token, batch)

        t0 = plane.clock.now()
        await report(Joining(at=t0), InCall(at=t0))
        await report(ParticipantJoined(at=t0, participant_id="1", name="Alice"))
        per_chunk = round(MEETING_CHUNK_S * SAMPLE_RATE) * 2
        live_until = max(0.0, minutes * 60 - tail_s)
        fed_live = 0.0
        began = time.perf_counter()
        for seq, start in enumerate(range(0, len(pcm), per_chunk)):
            data = pcm[start : start + per_chunk]
            offset = start / 2 / SAMPLE_RATE
            key = chunk_key(bot_id, seq)
            await storage.put(key, data)
            done = t0 + timedelta(seconds=offset + len(data) / 2 / SAMPLE_RATE)
            plane.clock.set(done)
            chunk = AudioChunk(
                at=done, seq=seq, key=key, offset_s=offset, duration_s=len(data) / 2 / SAMPLE_RATE
            )
            await report(chunk)
            if segments is not None:
                segments.on_chunk(bot_id, key, offset)
                waited = time.perf_counter()
                await segments.idle(bot_id)
                segment_wall += time.perf_counter() - waited
            if prefix == "live" and offset + len(data) / 2 / SAMPLE_RATE <= live_until:
                live.on_chunk(bot_id, key, offset)
                await live.idle(bot_id)
                fed_live = offset + len(data) / 2 / SAMPLE_RATE
        live_setup = time.perf_counter() - began
        if prefix in ("batch", "tiled"):
            spec = validate_model(model)
            batch = transcribers(spec.name)
            assert batch is not None
            cut = round(live_until * SAMPLE_RATE)
            if prefix == "batch":
                segs = await asyncio.to_thread(batch.transcribe, samples[:cut])
            else:  # the clip decoded once, its segments laid at each repetition
                once = await asyncio.to_thread(batch.transcribe, clip)
                period = (len(gap) + len(clip)) / SAMPLE_RATE
                lead = len(gap) / SAMPLE_RATE
                segs = [
                    shifted(s, at) for at in (lead + i * period for i in range(reps)) for s in once
                ]
            kept = [s for s in segs if s.end <= live_until - 2.0]
            until = kept[-1].end if kept else 0.0
            await save_transcript(storage, bot_id, TranscriptDoc(tuple(kept), False, until))
            fed_live = live_until
            live_setup = time.perf_counter() - began
        doc = await load_transcript(storage, bot_id)
        committed_until = doc.committed_until if doc else 0.0
        now = plane.clock.now()
        await report(Leaving(at=now, stop_reason=StopReason.MEETING_ENDED), Left(at=now))
        pool = TimedPool(1)
        pipeline = MediaPipeline(
            plane.services, storage, transcribers, pool=pool, live=live, segments=segments
        )
        began = time.perf_counter()
        await pipeline.process(bot_id)
        elapsed = time.perf_counter() - began
        async with plane.client() as client:
            bot = (await client.get(f"/api/v1/bot/{bot_id}/")).json()
        final = await load_transcript(storage, bot_id)
        joined_s = await decoded_seconds(storage.root / f"bots/{bot_id}/recording.ogg")
        hyp = " ".join(s.text for s in final.segments) if final else ""
        ref = " ".join([reference] * reps)
        live_pool.close()
        pool.close()
        await store.close()
    tail = len(samples) / SAMPLE_RATE - committed_until
    pcm_s = len(samples) / SAMPLE_RATE
    print(
        f"recording.ogg decodes to {joined_s:.3f}s for {pcm_s:.3f}s of PCM "
        f"({(joined_s - pcm_s) * 1000:+.0f} ms)"
    )
    print(
        f"pipeline model={model:<16} meeting={len(samples) / SAMPLE_RATE:.0f}s ({reps} clips) "
        f"prefix={prefix} (live fed {fed_live:.0f}s in {live_setup:.0f}s wall) "
        f"committed_until={committed_until:.1f}s tail={tail:.1f}s"
    )
    if segments is not None:
        print(
            f"during the call: {segments.encoded} recording segments encoded in "
            f"{segment_wall:.1f}s wall (not part of leave->finished)"
        )
    else:
        print("during the call: no recording segments (--no-segments)")
    tail_job = pool.jobs[-1] if pool.jobs else 0.0
    recorded = storage.stored.get("recording.json", float("nan")) - began
    print(
        f"pipeline model={model:<16} leave->finished={elapsed:.2f}s status={bot['status']} "
        f"(recording stored at {recorded:.2f}s; tail transcription {tail_job:.2f}s, "
        f"run alongside) final transcript WER={wer(ref, hyp):.3f} "
        f"load={' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--meeting-minutes", type=float, default=0.0, help="measure 2 (0: 1)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--tail-seconds", type=float, default=20.0)
    parser.add_argument("--prefix", choices=("live", "batch", "tiled"), default="tiled")
    parser.add_argument("--no-segments", action="store_true", help="no in-call encoding")
    args = parser.parse_args()
    if args.meeting_minutes:
        from transcription import speech_clip  # a script beside this one

        print(f"cpus={os.cpu_count()} load before={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with tempfile.TemporaryDirectory(prefix="mb-bench-clip-") as tmp:
            clip, reference = speech_clip(Path(tmp))
        asyncio.run(
            bench_pipeline(
                args.model,
                clip,
                reference,
                args.meeting_minutes,
                args.tail_seconds,
                args.prefix,
                not args.no_segments,
            )
        )
        return
    with bench_database(args.postgres) as url:
        print(f"cpus={os.cpu_count()} backend={'postgresql' if url else 'sqlite'}")
        print("load before=" + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        with tempfile.TemporaryDirectory(prefix="mb-bench-pipe-") as tmp:
            asyncio.run(run(args.bots, Path(tmp) / "data", url))


if __name__ == "__main__":
    main()

"""Does a bot's recording hold all the speech while the machine is busy? (issue 18)

Needs root (the Janus meeting lab, ``meetbot.lab``). Starts ``--hogs`` CPU-bound processes
(``python -c "while 1: pass"``) for the whole run, then per run: a fresh Janus room, the bot's
own browser (:class:`meetbot.runner.browser.ChromiumBrowser`: the runner's Chromium flags,
capture script, binding and audio-thread priority) joined as a subscriber, the capture
started, and one lab participant speaking espeak-ng sentences (a known WAV). When the speech
is over the capture is stopped and the run prints:

- ``spoken`` / ``captured``: seconds of speech (20 ms frames above -40 dBFS,
  :func:`meetbot.runner.capture.speech_seconds`) in the WAV and in what reached Python, and
  their ratio (the goal: within 5 %);
- ``span``: first to last speech frame, WAV vs capture: samples lost inside the utterance
  shorten it, gaps filled with silence keep it;
- ``recorded`` / ``wall``: seconds of audio handed to Python vs wall time since the start,
  and ``max lag``: how far the audio handed over trailed the wall clock at worst (timeline
  alignment: a recording whose sample count is its clock must not fall behind);
- where samples went, to locate a loss: the page's ``AudioContext.currentTime`` (the render
  clock) and samples the capture emitted, vs the page's wall time; WebRTC's inbound-rtp
  counters (packets received x 20 ms, concealed samples, samples removed to catch up).

``--path webaudio`` forces the older WebAudio capture (the "before"); ``--no-realtime`` leaves
Chromium's audio clock thread at normal priority (as a runner without ``CAP_SYS_NICE``). On the
RTP path the recording is what a :class:`~meetbot.runner.timeline.Timeline` gives out, and
``max lag`` is the audio that arrived too late to be placed.

    sudo .venv/bin/python bench/capture_under_load.py [--hogs 2] [--runs 3] [--path webaudio]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meetbot.lab import Lab, make_speech, problems
from meetbot.lab.browser import join
from meetbot.runner.browser import ChromiumBrowser
from meetbot.runner.capture import FRAME_SAMPLES, speech_frames, speech_seconds
from meetbot.runner.priority import raise_audio_threads
from meetbot.runner.timeline import Timeline

RATE = 16_000
TALKATIVE = {"audio_active_packets": 25, "audio_level_average": 60}
SENTENCES = [
    "Good morning everyone.",
    "The quarterly numbers look strong.",
    "We will ship the new release next week.",
    "Please send me your questions before Friday.",
]


@dataclass
class Result:
    spoken: float
    captured: float
    span_wav: float
    span_cap: float
    recorded: float
    wall: float
    max_lag: float
    page: dict[str, Any]
    rtc: dict[str, Any]


def wav_pcm16k(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        rate = w.getframerate()
    return samples[:: rate // RATE].tobytes()


def span(pcm: bytes) -> float:
    frames = np.flatnonzero(speech_frames(pcm))
    if len(frames) == 0:
        return 0.0
    return float(frames[-1] - frames[0] + 1) * FRAME_SAMPLES / RATE


def start_hogs(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(n)]


async def one_run(lab: Lab, workdir: Path, n: int, *, realtime: bool, rtp: bool) -> Result:
    speech = make_speech(SENTENCES, workdir / f"speech-{n}.wav", lead_s=1.0)
    room = lab.new_room(**TALKATIVE)
    browser = await ChromiumBrowser.launch(str(lab.chromium_executable))
    pieces: list[tuple[float, bytes]] = []
    browser.on_audio = lambda pcm: pieces.append((time.monotonic(), pcm))
    timeline = Timeline(origin=time.time())  # the RTP path: placed by timestamp
    runs = 0

    def on_frames(stream: str, rtp: int, arrived: float, pcm: bytes) -> None:
        nonlocal runs
        runs += 1
        timeline.place(stream, rtp, arrived, pcm)

    browser.on_frames = on_frames
    max_lag = 0.0
    try:
        await join(browser.page, lab.room_url(room, subscriber=True), "Bench", 30_000)
        t0 = time.monotonic()
        timeline.origin = time.time()
        if not await browser.page.evaluate("(o) => window.__meetbotCapture.start(o)", {"rtp": rtp}):
            raise RuntimeError(f"capture did not start: {await browser.capture_stats()}")
        if realtime:
            await asyncio.to_thread(raise_audio_threads)
        alice = await asyncio.to_thread(lab.add_participant, room, "alice", wav=speech.path)
        await asyncio.sleep(speech.duration_s + 2.0)
        rtc = await browser.page.evaluate("window.__meetbotCapture.rtc()")
        page = await browser.capture_stats()
        await browser.stop_capture()
        t1 = time.monotonic()
        if runs:  # the RTP path: what the recorder takes (HOLDBACK s behind, all at the end)
            pieces = [(t1, timeline.take(time.time(), final=True))]
            max_lag = timeline.late_samples / RATE  # arrived after their place was given out
        await asyncio.to_thread(alice.close)
    finally:
        await browser.close()
    pcm = b"".join(p for _, p in pieces)
    spoken_pcm = wav_pcm16k(speech.path)
    done = 0
    for at, piece in pieces:
        done += len(piece) // 2
        max_lag = max(max_lag, (at - t0) - done / RATE)  # the WebAudio path
    return Result(
        spoken=speech_seconds(spoken_pcm),
        captured=speech_seconds(pcm),
        span_wav=span(spoken_pcm),
        span_cap=span(pcm),
        recorded=len(pcm) / 2 / RATE,
        wall=t1 - t0,
        max_lag=max_lag,
        page=page,
        rtc=rtc,
    )


def show(n: int, r: Result) -> None:
    p, q = r.page, r.rtc
    ratio = r.captured / r.spoken if r.spoken else float("nan")
    wall = p.get("wall_time", 0) or float("nan")
    print(
        f"run {n}: spoken {r.spoken:.2f} s captured {r.captured:.2f} s ({ratio:.1%})"
        f" | span wav {r.span_wav:.2f} s capture {r.span_cap:.2f} s"
        f" | recorded {r.recorded:.2f} s of {r.wall:.2f} s wall, max lag {r.max_lag:.2f} s"
    )
    print(
        f"   page: render clock {p.get('context_time', 0):.2f} s, emitted"
        f" {p.get('samples', 0) / RATE:.2f} s, in {wall:.2f} s wall"
        f" ({p.get('context_time', 0) / wall:.1%}); mode {p.get('mode')}"
        f" errors {p.get('errors')}"
    )
    print(
        f"   rtc: packets {q['packetsReceived']} (= {q['packetsReceived'] * 0.02:.2f} s)"
        f" lost {q['packetsLost']}, samples {q['totalSamplesReceived'] / 48000:.2f} s,"
        f" concealed {q['concealedSamples'] / 48000:.2f} s"
        f" (silent {q['silentConcealedSamples'] / 48000:.2f} s),"
        f" removed to catch up {q['removedSamplesForAcceleration'] / 48000:.2f} s,"
        f" inserted {q['insertedSamplesForDeceleration'] / 48000:.2f} s"
    )


async def main_async(args: argparse.Namespace) -> None:
    hogs = start_hogs(args.hogs)
    try:
        with Lab.start() as lab:
            rt = "normal priority" if args.no_realtime else "SCHED_RR where allowed"
            print(f"capture path: {args.path}; audio clock thread: {rt}")
            load = os.getloadavg()[0]
            print(f"{args.hogs} hog(s), load average {load:.1f}, {os.cpu_count()} cpus")
            results = []
            for n in range(args.runs):
                r = await one_run(
                    lab, lab.workdir, n, realtime=not args.no_realtime, rtp=args.path == "rtp"
                )
                show(n, r)
                results.append(r)
            ratios = [r.captured / r.spoken for r in results if r.spoken]
            lags = [r.max_lag for r in results]
            print(
                f"captured/spoken: min {min(ratios):.1%} mean {np.mean(ratios):.1%};"
                f" max lag {max(lags):.2f} s; load average {os.getloadavg()[0]:.1f}"
            )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the bot")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--path",
        choices=("rtp", "webaudio"),
        default="rtp",
        help="capture path: decoded RTP (where the page allows it) or the WebAudio graph",
    )
    parser.add_argument(
        "--no-realtime",
        action="store_true",
        help="leave Chromium's audio clock thread at normal priority (as without CAP_SYS_NICE)",
    )
    args = parser.parse_args()
    if found := problems():
        sys.exit("lab unavailable: " + "; ".join(found))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

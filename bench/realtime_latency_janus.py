"""Real-time latency in the Janus room (issue 16 §1/§2): one `meetbot serve`, real runners and
Chromium, live transcription (whisper-tiny.en unless --model).

The room: bot **Voice** says what the bench streams into it (PCM on its stream, 20 ms frames
in real time: the sentences of :data:`SENTENCES`, then ``--bursts`` 300 ms tones 1.5 s apart,
silence in between); bot **Scribe** is measured; **alice**, a lab participant (subscriber),
listens. Every time is this machine's monotonic clock.

1. PCM sent in → heard by another participant: a tone's first frame sent on Voice's stream →
   alice's inbound audio energy (``getStats``, polled) rises. Includes Janus, the jitter
   buffer and the stats' own update period (polled every ~30 ms).
2. Word spoken → ``transcript.partial`` containing it, and → ``transcript.data``: the word is
   the last of each sentence, "spoken" when the frame holding the sentence's end was sent into
   Voice (espeak-ng's short trailing silence makes this a little early: latencies a little
   long). The figures include (1), Voice's way in; they are also given less (1)'s median,
   as if a lab participant had said the word.
3. Audio heard → binary frame on Scribe's stream (``?audio=mixed``): a tone's onset found in
   the PCM received, its arrival - (the tone's send time + (1)'s median).

    .venv/bin/python bench/realtime_latency_janus.py [--bursts 12] [--model whisper-tiny.en]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from websockets.asyncio.client import connect

from meetbot.lab import MEETING_HOSTS, Lab, make_speech
from meetbot.lab.serve import start_server

SENTENCES = [
    "Welcome to the planning meeting.",
    "We will talk about the budget first.",
    "Then we will look at the road map for next year.",
    "Please keep your questions for the end.",
    "Thank you all for coming today.",
    "Let us begin with the numbers.",
]
RATE = 16_000
FRAME = 320  # samples: 20 ms
LEAD_S = 4.0  # silence first: Voice's first unmute publishes its feed in Janus
BURST_S, BURST_EVERY = 0.3, 1.5
TIMERS = {
    "empty_meeting_timeout": 60,
    "last_person_detection": 2,
    "waiting_room_timeout": 30,
    "silence_detection": 0,
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(name: str, ms: list[float]) -> str:
    return (
        f"{name}: n={len(ms)} p50 {pct(ms, 0.5):.0f} ms  p95 {pct(ms, 0.95):.0f} ms"
        f"  min {min(ms, default=float('nan')):.0f}  max {max(ms, default=float('nan')):.0f} ms"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Script:
    """What Voice says: PCM, and where its sentence ends and tones lie (seconds)."""

    pcm: np.ndarray
    sentence_ends: list[tuple[str, float]]
    bursts: list[float]


def script(workdir: Path, bursts: int) -> Script:
    speech = make_speech(SENTENCES, workdir / "s.wav", lead_s=LEAD_S, gap_s=0.8, tail_s=1.5)
    raw = workdir / "s.raw"
    subprocess.run(
        ["sox", str(speech.path), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
         "-t", "raw", str(raw)],
        check=True, capture_output=True,
    )  # fmt: skip
    words = np.frombuffer(raw.read_bytes(), dtype="<i2")
    ends = [(re.findall(r"[a-z]+", s.text.lower())[-1], s.end_s) for s in speech.sentences]
    t = np.arange(int(BURST_S * RATE)) / RATE
    tone = (8000 * np.sin(2 * math.pi * 880 * t)).astype("<i2")
    gap = np.zeros(int((BURST_EVERY - BURST_S) * RATE), dtype="<i2")
    starts, parts, at = [], [words], len(words) / RATE
    for _ in range(bursts):
        parts += [gap, tone]
        at += BURST_EVERY - BURST_S
        starts.append(at)
        at += BURST_S
    parts.append(np.zeros(2 * RATE, dtype="<i2"))
    return Script(np.concatenate(parts), ends, starts)


@dataclass
class Heard:
    """What the bench saw arrive, with this machine's monotonic times."""

    sent: list[float] = field(default_factory=list)
    """The send time of each 20 ms frame into Voice."""
    partials: list[tuple[float, str]] = field(default_factory=list)
    data: list[tuple[float, str]] = field(default_factory=list)
    audio: list[tuple[float, bytes]] = field(default_factory=list)
    energy: list[tuple[float, float]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def sent_at(self, offset_s: float) -> float:
        return self.sent[min(len(self.sent) - 1, int(offset_s * RATE) // FRAME)]


async def speak(url: str, key: str, pcm: np.ndarray, heard: Heard) -> None:
    data = pcm.tobytes()
    async with connect(url, additional_headers={"Authorization": key}) as ws:

        async def errors() -> None:
            async for message in ws:
                if isinstance(message, str) and json.loads(message)["type"] == "stream.error":
                    heard.refused.append(json.loads(message))

        reader = asyncio.create_task(errors())
        start = time.monotonic()
        for n, i in enumerate(range(0, len(data), FRAME * 2)):
            heard.sent.append(time.monotonic())
            await ws.send(data[i : i + FRAME * 2])
            await asyncio.sleep(max(0.0, start + (n + 1) * FRAME / RATE - time.monotonic()))
        reader.cancel()


async def listen(url: str, key: str, heard: Heard, done: asyncio.Event) -> None:
    async with connect(url, additional_headers={"Authorization": key}, max_size=None) as ws:
        while not done.is_set():
            try:
                async with asyncio.timeout(0.5):
                    message = await ws.recv()
            except TimeoutError:
                continue
            arrived = time.monotonic()
            if isinstance(message, bytes):
                heard.audio.append((arrived, message))
                continue
            frame = json.loads(message)
            text = json.dumps(frame.get("data", {})).lower()
            if frame["type"] == "transcript.partial":
                heard.partials.append((arrived, text))
            elif frame["type"] == "transcript.data":
                heard.data.append((arrived, text))


def poll_energy(alice: Any, heard: Heard, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            stats = alice.stats(timeout=2)
            heard.energy.append((time.monotonic(), stats.inbound_audio_energy))
        time.sleep(0.02)


def first_after(found: list[tuple[float, str]], word: str, after: float) -> float | None:
    pattern = re.compile(rf"\b{word}\b")
    return next((t for t, text in found if t >= after and pattern.search(text)), None)


def in_latencies(heard: Heard, bursts: list[float]) -> list[float]:
    out = []
    for start in bursts:
        t0 = heard.sent_at(start)
        before = [e for t, e in heard.energy if t <= t0]
        base = before[-1] if before else 0.0
        rise = next((t for t, e in heard.energy if t > t0 and e > base + 1e-4), None)
        if rise is not None and rise - t0 < BURST_EVERY:
            out.append((rise - t0) * 1000)
    return out


def out_latencies(heard: Heard, bursts: list[float], way_in_s: float) -> list[float]:
    """Each tone's onset in Scribe's audio frames: its frame's arrival - when it was heard.
    The tones are the last loud things said (after the sentences): the last onsets, in order."""
    ends, pcm, total = [], [], 0
    for arrived, chunk in heard.audio:
        pcm.append(np.frombuffer(chunk, dtype="<i2"))
        total += len(pcm[-1])
        ends.append((total, arrived))
    if not pcm:
        return []
    samples = np.abs(np.concatenate(pcm).astype(np.int32))
    loud = np.flatnonzero(samples > 3000)
    onsets = [int(i) for k, i in enumerate(loud) if k == 0 or i - loud[k - 1] > RATE * 0.5]
    arrivals = [next(t for end, t in ends if end > onset) for onset in onsets]
    heard_at = [heard.sent_at(start) + way_in_s for start in bursts]
    paired = [a - h for h, a in zip(heard_at[::-1], arrivals[::-1], strict=False)]
    if not paired:
        return []
    # A tone missing from the frames (a stall) shifts that pairing: pair each tone instead
    # with the onset that arrived nearest its median delay (within half the tones' spacing).
    delay = float(np.median(paired))
    out = []
    for h in heard_at:
        near = min(arrivals, key=lambda a: abs(a - h - delay))
        if abs(near - h - delay) <= BURST_EVERY / 2:
            out.append((near - h) * 1000)
    return out


def wait_status(api: httpx.Client, bot_id: str, status: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"/api/v1/bot/{bot_id}/").json()["status"] != status:
        if time.monotonic() > deadline:
            raise SystemExit(f"bot {bot_id} not {status} in {timeout} s")
        time.sleep(0.3)


def create(api: httpx.Client, body: dict[str, Any]) -> str:
    for _ in range(240):
        r = api.post("/api/v1/bot/", json=body)
        if r.status_code != 507:
            r.raise_for_status()
            return str(r.json()["id"])
        time.sleep(0.5)
    raise SystemExit("the warm pool never had a browser")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=12)
    parser.add_argument("--model", default="whisper-tiny.en")
    args = parser.parse_args()
    print(f"load before: {load()}")
    with tempfile.TemporaryDirectory() as tmp, Lab.start() as lab:
        plan = script(Path(tmp), args.bursts)
        env = {
            "MEETBOT_LAUNCHER": "local",
            **lab.chromium_settings,
            "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
            "MEETBOT_ADHOC_POOL_SIZE": "2",
            "MEETBOT_MAX_CONCURRENT_BOTS": "3",
            "MEETBOT_TIMER_UNIT_SECONDS": "1",
            "MEETBOT_HEARTBEAT_INTERVAL": "1",
            "MEETBOT_DEFAULT_TRANSCRIPTION_MODEL": args.model,
            "MEETBOT_LOG_LEVEL": "info",  # the runner's "streamed voice: ends" line
        }
        server = start_server(Path(tmp) / "data", env)
        key = f"Token {server.first_key()}"
        heard = Heard()
        try:
            with httpx.Client(
                base_url=server.url, headers={"Authorization": key}, timeout=30
            ) as api:
                room = lab.new_room()
                body = {"meeting_url": lab.room_url(room), "stop_options": TIMERS}
                scribe = create(api, {**body, "bot_name": "Scribe"})
                voice = create(api, {**body, "bot_name": "Voice", "transcription_model": "none"})
                for bot in (scribe, voice):
                    wait_status(api, bot, "recording", 120)
                alice = lab.add_participant(room, "alice", subscriber=True)
                time.sleep(2.0)  # the runners' voice sockets connect
                ws = server.url.replace("http://", "ws://") + "/api/v1/bot/"
                stop = threading.Event()
                poller = threading.Thread(target=poll_energy, args=(alice, heard, stop))
                poller.start()

                async def scenario() -> None:
                    done = asyncio.Event()
                    listener = asyncio.create_task(
                        listen(f"{ws}{scribe}/stream?audio=mixed", key, heard, done)
                    )
                    await speak(f"{ws}{voice}/stream", key, plan.pcm, heard)
                    await asyncio.sleep(8.0)  # the last transcript.data
                    done.set()
                    await listener

                try:
                    asyncio.run(scenario())
                finally:
                    stop.set()
                    poller.join()
                    alice.leave()
                    for bot in (scribe, voice):
                        api.post(f"/api/v1/bot/{bot}/leave_call/")
        finally:
            server.stop()
            for log in sorted((Path(tmp) / "data" / "runners" / "logs").glob("*.log")):
                for line in log.read_text(errors="replace").splitlines():
                    if "streamed voice: ends" in line:
                        print("runner:", line.split("meetbot.runner.voice_stream: ")[-1])
                    if "live copy:" in line:
                        print("runner:", line.split("meetbot.runner.capture: ")[-1])
            for line in server.output:  # live transcription's own account
                if any(m in line for m in ("live copy missed", "live transcript", "live trans")):
                    print("server:", line[-220:])
    way_in = in_latencies(heard, plan.bursts)
    in_p50 = pct(way_in, 0.5) / 1000 if way_in else 0.0
    partial_ms, data_ms = [], []
    for word, end in plan.sentence_ends:
        said = heard.sent_at(end)
        if (t := first_after(heard.partials, word, said)) is not None:
            partial_ms.append((t - said) * 1000)
        if (t := first_after(heard.data, word, said)) is not None:
            data_ms.append((t - said) * 1000)
    print(f"refused frames: {heard.refused or 'none'}")
    print(summary("PCM sent in -> heard by alice (getStats energy)", way_in))
    print(summary("word sent into Voice -> transcript.partial", partial_ms))
    print(summary("word sent into Voice -> transcript.data", data_ms))
    print(
        summary(
            "  less the way in: word spoken -> partial", [x - in_p50 * 1000 for x in partial_ms]
        )
    )
    print(summary("  less the way in: word spoken -> data", [x - in_p50 * 1000 for x in data_ms]))
    print(
        summary(
            "audio heard by Scribe -> binary frame on its stream",
            out_latencies(heard, plan.bursts, in_p50),
        )
    )
    print(f"words: {len(plan.sentence_ends)} sentences, partial frames {len(heard.partials)},"
          f" data frames {len(heard.data)}, audio frames {len(heard.audio)}")  # fmt: skip
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()

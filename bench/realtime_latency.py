"""A bot's real-time stream: report committed → frame on the WebSocket (issue 16).

Starts `meetbot serve` (fake launcher: no browsers; SQLite unless --postgres), creates one bot,
gives it a runner token (as a launcher does) and plays its runner over HTTP, while a client
holds ``GET /api/v1/bot/{id}/stream?audio=mixed`` open. Two measurements:

1. events: ``--events`` ``speaking`` reports, one every ``--interval`` s; latency = the frame's
   arrival at the client - the moment the runner's POST was sent (both on this machine's
   monotonic clock). This is the control plane's share of "participant speaking → on the
   stream" (the runner's own poll of the page, 250 ms, comes on top).
2. audio: ``--chunks`` audio chunks of ``--chunk-seconds`` (the runner's is 1.5 s) written to
   media storage and reported, one per chunk length; latency = the binary frame's arrival -
   the POST of its report. "Heard → on the stream" adds the chunk's length (the first sample
   of a chunk waits for the whole chunk) and the runner's report batching.

No transcript latency is measured here: that needs the lab's browsers and a live model.

    .venv/bin/python bench/realtime_latency.py [--events 200] [--interval 0.05]
        [--chunks 40] [--chunk-seconds 1.5] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench_db import bench_database
from meetbot.config import Settings
from meetbot.contract.media_format import chunk_key
from meetbot.lab.serve import start_server
from meetbot.storage import media_root
from meetbot.storage.local import LocalStorage
from webhooks_load import Db, Runners

MEET = "https://meet.google.com/abc-defg-hij"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summary(name: str, ms: list[float]) -> str:
    return (
        f"{name}: n={len(ms)} p50 {pct(ms, 0.5):.1f} ms  p95 {pct(ms, 0.95):.1f} ms"
        f"  p99 {pct(ms, 0.99):.1f} ms  max {max(ms, default=float('nan')):.1f} ms"
    )


def now() -> str:
    return datetime.now(UTC).isoformat()


async def run(args: argparse.Namespace, url: str, key: str, db: Db, data_dir: Path) -> None:
    headers = {"Authorization": f"Token {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "transcription_model": "none"}
        )
        r.raise_for_status()
        bot_id: str = r.json()["id"]
    server = type("S", (), {"url": url})()
    runners = Runners(server, db, concurrency=2)  # type: ignore[arg-type]
    runners.arm([bot_id])
    assert await runners.report(
        bot_id, [{"type": "joining", "at": now()}, {"type": "in_call", "at": now()}]
    )
    storage = LocalStorage(media_root(Settings(data_dir=data_dir)))

    sent_event: dict[str, float] = {}
    sent_chunk: list[float] = []
    event_ms: list[float] = []
    audio_ms: list[float] = []
    ws_url = url.replace("http://", "ws://") + f"/api/v1/bot/{bot_id}/stream?audio=mixed"
    async with connect(ws_url, additional_headers=headers, max_size=None) as ws:

        async def receive() -> None:
            chunks = 0
            async for message in ws:
                arrived = time.monotonic()
                if isinstance(message, bytes):
                    audio_ms.append((arrived - sent_chunk[chunks]) * 1000)
                    chunks += 1
                    continue
                frame = json.loads(message)
                if frame["type"] == "participant.speaking":
                    pid = frame["data"]["participant"]["id"]
                    if pid in sent_event:
                        event_ms.append((arrived - sent_event[pid]) * 1000)

        receiver = asyncio.create_task(receive())
        await asyncio.sleep(1.0)  # the history (booting, joining, recording) has come
        for i in range(args.events):
            pid = f"p{i}"
            report = {"type": "speaking", "at": now(), "participant_id": pid, "name": pid,
                      "speaking": i % 2 == 0}  # fmt: skip
            sent_event[pid] = time.monotonic()
            await runners.report(bot_id, [report])
            await asyncio.sleep(args.interval)
        pcm = bytes(round(args.chunk_seconds * 16000) * 2)
        for seq in range(args.chunks):
            key = chunk_key(bot_id, seq)
            await storage.put(key, pcm)
            offset, duration = seq * args.chunk_seconds, args.chunk_seconds
            report = {"type": "audio_chunk", "at": now(), "seq": seq, "key": key,
                      "offset_s": offset, "duration_s": duration}  # fmt: skip
            sent_chunk.append(time.monotonic())
            await runners.report(bot_id, [report])
            await asyncio.sleep(args.chunk_seconds)
        await asyncio.sleep(2.0)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    print(summary("event report → frame", event_ms))
    print(summary("audio chunk report → binary frame", audio_ms))
    print(f"missing: events {args.events - len(event_ms)}, chunks {args.chunks - len(audio_ms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--chunk-seconds", type=float, default=1.5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    print(f"load before: {load()}")
    env: dict[str, Any] = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_HEARTBEAT_TIMEOUT": "1000000",
        "MEETBOT_LOG_LEVEL": "warning",
    }
    with tempfile.TemporaryDirectory() as tmp, bench_database(args.postgres) as pg_url:
        data_dir = Path(tmp) / "data"
        if pg_url:
            env["MEETBOT_DATABASE_URL"] = pg_url
        server = start_server(data_dir, env)
        try:
            db = Db(data_dir, pg_url)
            asyncio.run(run(args, server.url, server.first_key(), db, data_dir))
        finally:
            server.stop()
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()

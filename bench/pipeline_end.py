"""The media pipeline's own cost per bot: how fast it ends bots that wrote no audio.

The tail of ``webhooks.py`` (1,000 bots leave within seconds; their ``finished`` events come
after the last report) is this rate. The control plane is built as ``meetbot serve`` builds it
(SQLite file, or PostgreSQL with ``--postgres``; local storage; webhook delivery inline, no
endpoint), ``--bots`` bots are stored in ``processing`` with transcription ``none``, and one
pipeline worker ends them one after the other (read the bot, spool its chunks: none, end it
``finished`` with its ``status_update``). Nothing else runs: this is the pipeline's cost, not
its share of a busy process.

    .venv/bin/python bench/pipeline_end.py [--bots 1000] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_db import bench_database
from meetbot.config import Settings
from meetbot.contract.lifecycle import Status
from meetbot.control.media.pipeline import MediaPipeline
from meetbot.control.media.transcribers import Transcribers
from meetbot.control.server import build
from meetbot.secrets_file import load_or_create_secret
from meetbot.storage import open_storage
from meetbot.testing.builders import make_bot


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with bench_database(args.postgres) as url:
        print(f"cpus={os.cpu_count()} backend={'postgresql' if url else 'sqlite'}")
        print("load before=" + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        with tempfile.TemporaryDirectory(prefix="mb-bench-pipe-") as tmp:
            asyncio.run(run(args.bots, Path(tmp) / "data", url))


if __name__ == "__main__":
    main()

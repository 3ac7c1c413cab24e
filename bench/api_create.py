"""Create-bot latency at a fixed request rate, on SQLite and PostgreSQL.

Starts `meetbot serve` (fake launcher: no browsers, so this measures the API and the store),
sends POST /api/v1/bot/ open-loop at --rate requests/s for --seconds, and prints p50/p95/p99.

    .venv/bin/python bench/api_create.py --rate 200 --seconds 20 [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from meetbot.testing.serve import start_server

MEET = "https://meet.google.com/abc-defg-hij"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(url: str, key: str, rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    headers = {"Authorization": f"Token {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def one(i: int) -> None:
            nonlocal errors
            body = {
                "meeting_url": "https://meet.google.com/abc-defg-hij",
                "metadata": {"i": str(i)},
            }
            start = time.perf_counter()
            r = await client.post("/api/v1/bot/", json=body)
            latencies.append((time.perf_counter() - start) * 1000)
            if r.status_code != 201:
                errors += 1

        # warm up connections
        await asyncio.gather(*(one(-i) for i in range(20)))
        latencies.clear()
        tasks = []
        t0 = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_ADHOC_POOL_SIZE": "100000",
        "MEETBOT_MAX_CONCURRENT_BOTS": "100000",
        "MEETBOT_LOG_LEVEL": "warning",
    }
    db = None
    if args.postgres:
        db = f"meetbot_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
        env["MEETBOT_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{db}"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", env)
        try:
            latencies, errors = asyncio.run(
                drive(server.url, server.first_key(), args.rate, args.seconds)
            )
        finally:
            server.stop()
    if db:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"backend={backend} rate={args.rate}/s seconds={args.seconds} requests={len(latencies)}")
    print(f"errors={errors}")
    print(
        f"latency_ms p50={percentile(latencies, 0.5):.1f} p95={percentile(latencies, 0.95):.1f} "
        f"p99={percentile(latencies, 0.99):.1f} max={max(latencies):.1f} "
        f"mean={statistics.fmean(latencies):.1f}"
    )


if __name__ == "__main__":
    main()

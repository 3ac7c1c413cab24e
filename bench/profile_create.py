"""Where a create's CPU goes: ``POST /api/v1/bot/`` in process (the server's own wiring, SQLite,
fake launcher), under cProfile; prints the top functions by own time and by cumulative time.

    .venv/bin/python bench/profile_create.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import httpx

from meetbot.config import Settings
from meetbot.control.server import build

MEET = "https://meet.google.com/abc-defg-hij"


async def run(requests: int, profile: cProfile.Profile) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=Path(tmp),
            launcher="fake",
            adhoc_pool_size=100000,
            max_concurrent_bots=100000,
            heartbeat_timeout=3600,
            delivery="inline",
        )
        plane = await build(settings)
        transport = httpx.ASGITransport(app=plane.app)
        headers = {"Authorization": f"Token {plane.first_key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://meetbot", headers=headers
        ) as client:
            for i in range(50):  # warm up
                await client.post(
                    "/api/v1/bot/", json={"meeting_url": MEET, "metadata": {"i": str(i)}}
                )
            start = time.perf_counter()
            profile.enable()
            for i in range(requests):
                r = await client.post(
                    "/api/v1/bot/", json={"meeting_url": MEET, "metadata": {"i": str(i)}}
                )
                assert r.status_code == 201, r.text
            profile.disable()
            elapsed = time.perf_counter() - start
        print(
            f"{requests} creates, {elapsed / requests * 1000:.2f} ms each"
            " (wall, profiled, client included)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    profile = cProfile.Profile()
    asyncio.run(run(args.requests, profile))
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()

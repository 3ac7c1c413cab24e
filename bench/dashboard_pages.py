"""Dashboard page latency with 1,000 bots in the workspace (goal: p95 <= 100 ms).

Starts `meetbot serve` (fake launcher, SQLite; ``--postgres`` for PostgreSQL), creates
``--bots`` scheduled bots through the API (two hours apart, so their reservations never
collide), signs in to the dashboard as a browser would, then requests each main page
``--requests`` times one after another and prints p50/p95/max per page, the server's CPU
time per request (the figure the machine's load moves least) and the load average (the machine
is shared: a latency means little without it).

    .venv/bin/python bench/dashboard_pages.py [--bots 1000] [--requests 200] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil

from bench_db import bench_database
from meetbot.lab.serve import start_server

MEET = "https://meet.google.com/abc-defg-hij"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fill(api: httpx.Client, count: int) -> list[str]:
    start = datetime.now(UTC) + timedelta(hours=1)
    ids = []
    for i in range(count):
        body = {
            "meeting_url": MEET,
            "bot_name": f"Bench bot {i}",
            "join_at": (start + timedelta(hours=2 * i)).isoformat(),
            "metadata": {"n": str(i)},
        }
        r = api.post("/api/v1/bot/", json=body)
        r.raise_for_status()
        ids.append(r.json()["id"])
    return ids


def sign_in(web: httpx.Client, key: str) -> None:
    page = web.get("/dashboard/signin")
    token = CSRF.search(page.text)
    assert token
    r = web.post("/dashboard/signin", data={"csrf": token.group(1), "api_key": key})
    assert r.status_code == 303, r.text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_database(args.postgres) as db_url:
        env = {"MEETBOT_LAUNCHER": "fake", "MEETBOT_RATE_LIMIT_CREATE_PER_MINUTE": "0"}
        env |= {"MEETBOT_RATE_LIMIT_READ_PER_MINUTE": "0"}
        if db_url:
            env["MEETBOT_DATABASE_URL"] = db_url
        server = start_server(Path(tmp) / "data", env)
        try:
            key = server.first_key()
            headers = {"Authorization": f"Token {key}"}
            with (
                httpx.Client(base_url=server.url, headers=headers, timeout=30) as api,
                httpx.Client(base_url=server.url, timeout=30) as web,
            ):
                began = time.monotonic()
                ids = fill(api, args.bots)
                print(f"{args.bots} bots created in {time.monotonic() - began:.1f} s")
                sign_in(web, key)
                middle = ids[len(ids) // 2]
                pages = {
                    "bots list (50 rows)": "/dashboard/bots/",
                    "bots list, status filter": "/dashboard/bots/?status=scheduled",
                    "bots list, search (no match)": "/dashboard/bots/?q=zzz-none",
                    "bots list, search by id": f"/dashboard/bots/?q={middle}",
                    "bot page": f"/dashboard/bots/{middle}/",
                    "bot live region (polled 1/s)": f"/dashboard/bots/{middle}/live",
                    "webhooks": "/dashboard/webhooks/",
                    "capacity (24 h)": "/dashboard/capacity/",
                }
                assert server.proc is not None
                proc = psutil.Process(server.proc.pid)
                print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'CPU ms':>8}")
                for name, path in pages.items():
                    cpu = proc.cpu_times()
                    times = []
                    for _ in range(args.requests):
                        t = time.perf_counter()
                        r = web.get(path)
                        times.append((time.perf_counter() - t) * 1000)
                        assert r.status_code == 200, (path, r.status_code)
                    after = proc.cpu_times()
                    used = (after.user + after.system - cpu.user - cpu.system) * 1000
                    p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
                    per = used / args.requests
                    print(f"{name:34} {p50:8.1f} {p95:8.1f} {max(times):8.1f} {per:8.2f}")
            print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
            print("database:", "postgresql" if db_url else "sqlite")
        finally:
            server.stop()


if __name__ == "__main__":
    main()

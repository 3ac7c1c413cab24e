"""Dashboard page latency with 1,000 bots in the workspace (goal: p95 <= 100 ms).

Starts `meetbot serve` (fake launcher, SQLite; ``--postgres`` for PostgreSQL), creates
``--bots`` scheduled bots through the API (two hours apart, so their reservations never
collide), signs in to the dashboard as a browser would, then requests each main page
``--requests`` times one after another and prints p50/p95/max per page, the server's CPU time
per request (the figure the machine's load moves least) and the load average (the machine is
shared: a latency means little without it). The calendar pages: one ICS calendar, served on
loopback, with ``--events`` upcoming occurrences (half with a meeting link, so with a bot).

    .venv/bin/python bench/dashboard_pages.py [--bots 1000] [--requests 200] [--events 200]
        [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
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


def ics(count: int) -> str:
    """An iCalendar feed of ``count`` half-hour meetings from tomorrow, every other with a link."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//meetbot bench//EN"]
    for i in range(count):
        at = start + timedelta(hours=i)
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{i}",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{at:%Y%m%dT%H%M%SZ}",
            f"DTEND:{at + timedelta(minutes=30):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:Bench meeting {i}",
            *([f"LOCATION:{MEET}"] if i % 2 == 0 else []),
            "END:VEVENT",
        ]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


@contextlib.contextmanager
def feed_server(text: str) -> Iterator[str]:
    """``text`` served on loopback; its URL."""
    body = text.encode()

    class Feed(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/team.ics"
    finally:
        server.shutdown()


def connect_calendar(api: httpx.Client, url: str) -> str:
    """Connect the feed and wait for its first sync; the calendar's id."""
    r = api.post("/api/v1/calendars/", json={"kind": "ics", "url": url})
    r.raise_for_status()
    calendar_id: str = r.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if api.get(f"/api/v1/calendars/{calendar_id}/").json()["last_synced_at"]:
            return calendar_id
        time.sleep(0.5)
    raise AssertionError("the calendar did not sync in 120 s")


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
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database(args.postgres) as db_url,
        feed_server(ics(args.events)) as feed_url,
    ):
        env = {"MEETBOT_LAUNCHER": "fake", "MEETBOT_RATE_LIMIT_CREATE_PER_MINUTE": "0"}
        env |= {"MEETBOT_WEBHOOK_ALLOW_PRIVATE": "true"}  # the feed is on loopback
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
                cal = connect_calendar(api, feed_url)
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
                    "calendars": "/dashboard/calendars/",
                    f"calendar ({args.events} occ., 50 shown)": f"/dashboard/calendars/{cal}/",
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

"""Create-bot latency at a fixed request rate, on SQLite and PostgreSQL.

Starts `meetbot serve` (fake launcher: no browsers, so this measures the API and the store),
sends POST /api/v1/bot/ open-loop at --rate requests/s for --seconds, and prints p50/p95/p99,
the CPU time the server and this client spent per request, and the load average (the machine is
shared: a figure means little without it).

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams (``--client raw``, the
default): it shares the machine's two cores with the server, and httpx (``--client httpx``)
costs about as much CPU per request as the server itself, which inflates the server's figures.

    .venv/bin/python bench/api_create.py --rate 200 --seconds 20 [--postgres] [--client httpx]

Overload (issue 12 §2): ``--overload 3`` first measures the sustainable rate (a calibration run
at ``--rate`` for 5 s: 1000 / the server's CPU-ms per create, the one event loop being the
bottleneck), then sends three times that rate for ``--seconds`` and prints the latency of the
accepted creates (201) and of the shed ones (503) apart. ``--set NAME=VALUE`` passes a setting
to the server (``--set MEETBOT_MAX_REQUESTS_IN_FLIGHT=0`` turns shedding off: the "before").

    .venv/bin/python bench/api_create.py --rate 100 --seconds 20 --overload 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench_db import bench_database
from meetbot.lab.serve import start_server

MEET = "https://meet.google.com/abc-defg-hij"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Cpu:
    """CPU seconds (user + system) of the server process and of this client, from a mark."""

    def __init__(self, server_pid: int) -> None:
        self.server = psutil.Process(server_pid)
        self.marks = (0.0, 0.0)

    def now(self) -> tuple[float, float]:
        s = self.server.cpu_times()
        return s.user + s.system, time.process_time()

    def mark(self) -> None:
        self.marks = self.now()

    def since(self) -> tuple[float, float]:
        server, client = self.now()
        return server - self.marks[0], client - self.marks[1]


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RawClient:
    """POST JSON over HTTP/1.1 keep-alive connections (one request per connection at a time)."""

    def __init__(self, url: str, key: str) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.key = key
        self.idle: list[Conn] = []

    async def post(self, path: str, body: dict[str, object]) -> int:
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Token {self.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        while self.idle:  # a kept-alive connection the server closed meanwhile: the next one
            conn = self.idle.pop()
            try:
                return await self._exchange(conn, head + data)
            except (ConnectionError, asyncio.IncompleteReadError):
                conn[1].close()
        conn = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(conn, head + data)

    async def _exchange(self, conn: Conn, request: bytes) -> int:
        reader, writer = conn
        writer.write(request)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.idle.append(conn)
        return int(status_line.split()[1])

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()


class HttpxClient:
    def __init__(self, url: str, key: str) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        headers = {"Authorization": f"Token {key}"}
        self.client = httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30)

    async def post(self, path: str, body: dict[str, object]) -> int:
        return (await self.client.post(path, json=body)).status_code

    async def aclose(self) -> None:
        await self.client.aclose()


async def drive(
    url: str, key: str, rate: float, seconds: float, cpu: Cpu, kind: str
) -> tuple[dict[int, list[float]], int]:
    """Latencies (ms) by status code, and the requests that got no answer."""
    by_status: dict[int, list[float]] = {}
    errors = 0
    client = RawClient(url, key) if kind == "raw" else HttpxClient(url, key)
    try:

        async def one(i: int) -> None:
            nonlocal errors
            body = {
                "meeting_url": "https://meet.google.com/abc-defg-hij",
                "metadata": {"i": str(i)},
            }
            start = time.perf_counter()
            try:
                status = await client.post("/api/v1/bot/", body)
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError):
                errors += 1
                return
            by_status.setdefault(status, []).append((time.perf_counter() - start) * 1000)

        # warm up connections
        await asyncio.gather(*(one(-i) for i in range(20)))
        by_status.clear()
        cpu.mark()
        tasks = []
        t0 = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    finally:
        await client.aclose()
    return by_status, errors


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "none"
    return (
        f"p50={percentile(latencies, 0.5):.1f} p95={percentile(latencies, 0.95):.1f} "
        f"p99={percentile(latencies, 0.99):.1f} max={max(latencies):.1f} "
        f"mean={statistics.fmean(latencies):.1f}"
    )


def run_once(
    url: str, key: str, rate: float, seconds: float, cpu: Cpu, kind: str
) -> tuple[dict[int, list[float]], int, float, float]:
    """One open-loop run: latencies by status, no-answers, server and client CPU seconds."""
    by_status, errors = asyncio.run(drive(url, key, rate, seconds, cpu, kind))
    server_cpu, client_cpu = cpu.since()
    return by_status, errors, server_cpu, client_cpu


def report(
    label: str,
    rate: float,
    by_status: dict[int, list[float]],
    errors: int,
    server_cpu: float,
    client_cpu: float,
) -> None:
    total = sum(len(v) for v in by_status.values())
    counts = " ".join(f"{code}={len(v)}" for code, v in sorted(by_status.items()))
    print(f"[{label}] rate={rate:.0f}/s requests={total} {counts} no_answer={errors}")
    for code, values in sorted(by_status.items()):
        print(f"[{label}] latency_ms status={code} {summary(values)}")
    created = max(1, len(by_status.get(201, ())))
    print(
        f"[{label}] cpu_ms server_per_create={server_cpu / created * 1000:.2f} "
        f"server_per_request={server_cpu / max(1, total) * 1000:.2f} "
        f"client_per_request={client_cpu / max(1, total) * 1000:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument(
        "--overload",
        type=float,
        default=0.0,
        help="calibrate at --rate, then send this many times the sustainable rate",
    )
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_ADHOC_POOL_SIZE": "100000",
        "MEETBOT_MAX_CONCURRENT_BOTS": "100000",
        "MEETBOT_LOG_LEVEL": "warning",
        # The fake launcher's bots never report: the reaper must not fail them mid-run.
        "MEETBOT_HEARTBEAT_TIMEOUT": "3600",
    }
    env.update(dict(item.split("=", 1) for item in args.set))
    load_before = os.getloadavg()
    backend = "postgresql" if args.postgres else "sqlite"
    settings = " ".join(args.set) or "defaults"
    print(f"backend={backend} client={args.client} seconds={args.seconds} settings: {settings}")
    with bench_database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
        if url:
            env["MEETBOT_DATABASE_URL"] = url
        server = start_server(Path(tmp) / "data", env)
        try:
            assert server.proc is not None
            cpu = Cpu(server.proc.pid)
            key = server.first_key()
            rate = args.rate
            if args.overload:
                calibration = run_once(server.url, key, rate, 5.0, cpu, args.client)
                report("calibrate", rate, *calibration)
                created = max(1, len(calibration[0].get(201, ())))
                per_create_ms = calibration[2] / created * 1000
                sustainable = 1000 / per_create_ms
                rate = args.overload * sustainable
                print(
                    f"sustainable_rate={sustainable:.0f}/s (1000 / {per_create_ms:.2f} "
                    f"server CPU-ms per create); sending {args.overload:g}x = {rate:.0f}/s"
                )
            cpu.mark()
            result = run_once(server.url, key, rate, args.seconds, cpu, args.client)
            report("run", rate, *result)
        finally:
            server.stop()
    load_after = os.getloadavg()
    print(
        "loadavg before={:.2f} {:.2f} {:.2f} after={:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )


if __name__ == "__main__":
    main()

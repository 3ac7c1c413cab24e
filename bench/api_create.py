"""Create-bot latency at a fixed request rate, on SQLite and PostgreSQL.

Starts `meetbot serve` (fake launcher: no browsers, so this measures the API and the store),
sends POST /api/v1/bot/ open-loop at --rate requests/s for --seconds, and prints p50/p95/p99,
the CPU time the server and this client spent per request, and the load average (the machine is
shared: a figure means little without it).

The client is a minimal HTTP/1.1 keep-alive client on asyncio streams (``--client raw``, the
default): it shares the machine's two cores with the server, and httpx (``--client httpx``)
costs about as much CPU per request as the server itself, which inflates the server's figures.

    .venv/bin/python bench/api_create.py --rate 200 --seconds 20 [--postgres] [--client httpx]
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
) -> tuple[list[float], int]:
    latencies: list[float] = []
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
            latencies.append((time.perf_counter() - start) * 1000)
            if status != 201:
                errors += 1

        # warm up connections
        await asyncio.gather(*(one(-i) for i in range(20)))
        latencies.clear()
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
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    args = parser.parse_args()
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_ADHOC_POOL_SIZE": "100000",
        "MEETBOT_MAX_CONCURRENT_BOTS": "100000",
        "MEETBOT_LOG_LEVEL": "warning",
        # The fake launcher's bots never report: the reaper must not fail them mid-run.
        "MEETBOT_HEARTBEAT_TIMEOUT": "3600",
    }
    load_before = os.getloadavg()
    with bench_database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
        if url:
            env["MEETBOT_DATABASE_URL"] = url
        server = start_server(Path(tmp) / "data", env)
        try:
            assert server.proc is not None
            cpu = Cpu(server.proc.pid)
            latencies, errors = asyncio.run(
                drive(server.url, server.first_key(), args.rate, args.seconds, cpu, args.client)
            )
            server_cpu, client_cpu = cpu.since()
        finally:
            server.stop()
    load_after = os.getloadavg()
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"backend={backend} rate={args.rate}/s seconds={args.seconds} "
        f"requests={len(latencies)} client={args.client}"
    )
    print(f"errors={errors}")
    print(
        f"latency_ms p50={percentile(latencies, 0.5):.1f} p95={percentile(latencies, 0.95):.1f} "
        f"p99={percentile(latencies, 0.99):.1f} max={max(latencies):.1f} "
        f"mean={statistics.fmean(latencies):.1f}"
    )
    n = max(1, len(latencies))
    print(
        f"cpu_ms_per_request server={server_cpu / n * 1000:.2f} client={client_cpu / n * 1000:.2f}"
    )
    print(
        "loadavg before={:.2f} {:.2f} {:.2f} after={:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )


if __name__ == "__main__":
    main()

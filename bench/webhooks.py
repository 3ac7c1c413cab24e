"""Webhook delivery: event → delivered latency, sustained deliveries/s, draining a backlog.

Starts `meetbot serve` (fake launcher with a huge warm pool: no browsers; SQLite unless
--postgres) and a receiver on 127.0.0.1 in a separate process (raw HTTP/1.1 with keep-alive,
answers 200 at once, logs arrival time, ``webhook-id``, the event's ``created_at`` and type).
One workspace endpoint receives every event. What generates the events, exactly:

- every ``POST /api/v1/bot/`` (ad-hoc, dispatched to a fake warm slot) emits one
  ``status_update`` (→ ``booting``); every ``POST .../leave_call/`` on such a bot emits one more
  (``booting`` → ``call_ended``/``manually_stopped``). Nothing else emits events here (the
  heartbeat reaper is pushed out with MEETBOT_HEARTBEAT_TIMEOUT).

Phases:

1. latency: ``--rate`` creates/s for ``--seconds``; latency = arrival - the event's
   ``created_at`` (set in the emitting transaction, millisecond resolution), p50/p99/max.
2. throughput: ``--bots`` bots created, then each left, ``--concurrency`` requests in flight
   (2 x bots events); deliveries/s over the delivery window, and whether delivery kept up with
   generation.
3. backlog: the receiver stops; ``--backlog`` events are generated (backlog/2 bots, create +
   leave); the receiver comes back on the same port; time until every event arrived, with the
   arrival curve and deliveries per second. While the receiver is down each bot's oldest
   delivery fails to connect and backs off (full jitter, ceiling 2 s doubling per attempt); the
   bot's later deliveries wait behind it. Once one attempt to the endpoint succeeds, the
   worker brings forward every retry of that endpoint that had failed to connect, so the drain
   should be bound by the worker's rate, not by backoff. If not everything arrived within
   ``--drain-timeout`` s, the still pending deliveries already tried are nudged through
   ``POST .../deliveries/{id}/retry/`` and the rest is timed.

    .venv/bin/python bench/webhooks.py [--rate 20 --seconds 20] [--bots 1000]
        [--backlog 10000] [--drain-timeout 180] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from meetbot.testing.serve import Server, free_port, start_server

MEET = "https://meet.google.com/abc-defg-hij"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the receiver (runs as `webhooks.py --receiver PORT LOG`) -------------------------------


async def serve_receiver(port: int, log_path: Path) -> None:
    out = log_path.open("a", buffering=1 << 16)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while line := await reader.readline():
                if not line.strip():
                    continue
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = time.time()
                writer.write(answer)
                try:
                    event = json.loads(body)
                    created, kind = event.get("created_at", ""), event.get("type", "")
                except ValueError:
                    created, kind = "", "?"
                wid = headers.get("webhook-id", "")
                out.write(f"{arrived:.6f}\t{wid}\t{created}\t{kind}\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    async def flusher() -> None:
        while not stop.is_set():
            out.flush()
            await asyncio.sleep(0.1)

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    flushing = asyncio.create_task(flusher())
    print("receiving", flush=True)
    await stop.wait()
    server.close()
    for writer in list(writers):
        writer.close()
    await asyncio.sleep(0.1)
    flushing.cancel()
    out.flush()
    out.close()


@dataclass
class Arrival:
    at: float
    webhook_id: str
    created: float
    type: str


class Receiver:
    """The receiver subprocess and its log."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        cmd = [sys.executable, __file__, "--receiver", str(self.port), str(self.log)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "receiving":
            raise RuntimeError("receiver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def arrivals(self) -> list[Arrival]:
        found: list[Arrival] = []
        if not self.log.exists():
            return found
        for line in self.log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) != 4:
                continue  # a line still being written
            at, wid, created, kind = parts
            when = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            found.append(Arrival(float(at), wid, when, kind))
        return found

    def distinct(self) -> int:
        return len({a.webhook_id for a in self.arrivals()})


# --- driving the API ------------------------------------------------------------------------


class CpuMeter:
    """CPU time of the server process (API, scheduler and delivery worker share it)."""

    def __init__(self, server: Server) -> None:
        assert server.proc is not None
        self.proc = psutil.Process(server.proc.pid)
        self.reset()

    def reset(self) -> None:
        t = self.proc.cpu_times()
        self.cpu, self.wall = t.user + t.system, time.monotonic()

    def percent(self) -> float:
        t = self.proc.cpu_times()
        return (t.user + t.system - self.cpu) / (time.monotonic() - self.wall) * 100


class Driver:
    def __init__(self, server: Server, concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(
            base_url=server.url,
            headers={"Authorization": f"Token {server.first_key()}"},
            limits=limits,
            timeout=60,
        )
        self.concurrency = concurrency
        self.errors: dict[int, int] = {}
        self.cpu = CpuMeter(server)

    async def create(self) -> str | None:
        r = await self.client.post("/api/v1/bot/", json={"meeting_url": MEET})
        if r.status_code != 201:
            self.errors[r.status_code] = self.errors.get(r.status_code, 0) + 1
            return None
        bot_id: str = r.json()["id"]
        return bot_id

    async def leave(self, bot_id: str) -> bool:
        r = await self.client.post(f"/api/v1/bot/{bot_id}/leave_call/")
        if r.status_code != 200:
            self.errors[r.status_code] = self.errors.get(r.status_code, 0) + 1
        return r.status_code == 200

    async def create_and_leave(self, bots: int) -> int:
        """``bots`` creates then as many leaves, ``concurrency`` in flight; events emitted."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(bots):
            queue.put_nowait(i)
        ids: list[str] = []

        async def creator() -> None:
            while not queue.empty():
                queue.get_nowait()
                if (bot_id := await self.create()) is not None:
                    ids.append(bot_id)

        await asyncio.gather(*(creator() for _ in range(self.concurrency)))
        pending = list(ids)
        left = 0

        async def leaver() -> None:
            nonlocal left
            while pending:
                if await self.leave(pending.pop()):
                    left += 1

        await asyncio.gather(*(leaver() for _ in range(self.concurrency)))
        return len(ids) + left

    async def close(self) -> None:
        await self.client.aclose()


async def wait_for(receiver: Receiver, expected: int, timeout: float, every: float = 0) -> float:
    """Seconds until ``expected`` distinct events arrived (or ``timeout``), printing progress."""
    began = time.monotonic()
    last_print = began
    while True:
        got = receiver.distinct()
        now = time.monotonic()
        if got >= expected or now - began >= timeout:
            return now - began
        if every and now - last_print >= every:
            print(f"  ... {now - began:5.0f}s: {got}/{expected} delivered", flush=True)
            last_print = now
        await asyncio.sleep(0.2)


# --- phases ---------------------------------------------------------------------------------


async def phase_latency(driver: Driver, receiver: Receiver, rate: float, seconds: float) -> None:
    total = int(rate * seconds)
    t0 = time.perf_counter()
    tasks = []
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(driver.create()))
    made = sum(1 for bot in await asyncio.gather(*tasks) if bot is not None)
    waited = await wait_for(receiver, made, 60)
    arrivals = receiver.arrivals()
    lat = [(a.at - a.created) * 1000 for a in arrivals]
    print(
        f"latency: {made} events at {rate:g}/s for {seconds:g}s; {len(arrivals)} arrivals "
        f"({receiver.distinct()} distinct); last one {waited:.1f}s after the last POST returned"
    )
    print(
        f"latency_ms event created_at -> received: p50={pct(lat, 0.5):.0f} "
        f"p90={pct(lat, 0.9):.0f} p99={pct(lat, 0.99):.0f} max={max(lat, default=0):.0f}"
    )


async def phase_throughput(driver: Driver, receiver: Receiver, bots: int) -> None:
    began = time.time()
    driver.cpu.reset()
    emitted = await driver.create_and_leave(bots)
    generated = time.time() - began
    await wait_for(receiver, emitted, 300)
    server_cpu = driver.cpu.percent()
    arrivals = sorted(receiver.arrivals(), key=lambda a: a.at)
    if not arrivals:
        print("throughput: nothing arrived")
        return
    first_created = min(a.created for a in arrivals)
    last_created = max(a.created for a in arrivals)
    window = arrivals[-1].at - arrivals[0].at
    lat = [(a.at - a.created) * 1000 for a in arrivals]
    print(
        f"throughput: {bots} bots created then left = {emitted} events generated in "
        f"{generated:.1f}s ({emitted / generated:.0f} events/s; created_at span "
        f"{last_created - first_created:.1f}s); {receiver.distinct()} distinct delivered; "
        f"server process CPU {server_cpu:.0f}% of a core"
    )
    print(
        f"throughput: delivery window first->last arrival {window:.1f}s = "
        f"{len(arrivals) / window:.0f} deliveries/s; last arrival "
        f"{arrivals[-1].at - last_created:.1f}s after the last event was created; "
        f"latency_ms p50={pct(lat, 0.5):.0f} p99={pct(lat, 0.99):.0f} max={max(lat):.0f}"
    )
    print(f"throughput: deliveries per 1 s bucket: {buckets(arrivals, arrivals[0].at)}")


def buckets(arrivals: list[Arrival], start: float) -> list[int]:
    """Arrivals per second since ``start`` (is delivery sustained, or bursty?)."""
    per_second: dict[int, int] = {}
    for a in arrivals:
        second = int(a.at - start)
        per_second[second] = per_second.get(second, 0) + 1
    last = max(per_second, default=0)
    return [per_second.get(second, 0) for second in range(last + 1)]


async def pending_heads(driver: Driver, endpoint_id: str) -> list[str]:
    """Ids of pending deliveries that were already tried (each bot's head of line)."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"status": "pending", "limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = await driver.client.get(
            f"/api/v1/webhook_endpoints/{endpoint_id}/deliveries/", params=params
        )
        r.raise_for_status()
        page = r.json()
        ids += [d["id"] for d in page["results"] if d["attempts"] > 0]
        cursor = page["next"]
        if not cursor:
            return ids


async def delivery_summary(driver: Driver, endpoint_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in ("pending", "delivering", "delivered", "failed"):
        n, cursor = 0, None
        while True:
            params: dict[str, Any] = {"status": status, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            r = await driver.client.get(
                f"/api/v1/webhook_endpoints/{endpoint_id}/deliveries/", params=params
            )
            page = r.json()
            n += len(page["results"])
            cursor = page["next"]
            if not cursor:
                break
        counts[status] = n
    return counts


async def phase_backlog(
    driver: Driver, receiver: Receiver, endpoint_id: str, backlog: int, drain_timeout: float
) -> None:
    """``receiver`` is not running yet: the events are made while nothing listens."""
    began = time.monotonic()
    emitted = await driver.create_and_leave(backlog // 2)
    generated = time.monotonic() - began
    print(
        f"backlog: receiver down; {emitted} events generated in {generated:.1f}s "
        f"({emitted / generated:.0f}/s), errors={driver.errors}"
    )
    before = await delivery_summary(driver, endpoint_id)
    print(
        "backlog: deliveries by status while down (all phases; listed page by page while "
        f"they move, so approximate): {before}"
    )
    receiver.start()
    back = time.time()
    driver.cpu.reset()
    waited = await wait_for(receiver, emitted, drain_timeout, every=10)
    server_cpu = driver.cpu.percent()
    arrivals = sorted(receiver.arrivals(), key=lambda a: a.at)
    got = receiver.distinct()
    marks = []
    for share in (0.1, 0.5, 0.9, 0.99, 1.0):
        need = max(1, int(share * emitted))
        if len(arrivals) >= need:
            marks.append(f"{share:.0%} at {arrivals[need - 1].at - back:.1f}s")
    print(
        f"backlog: receiver back; {got}/{emitted} distinct delivered in {waited:.1f}s "
        f"(server process CPU {server_cpu:.0f}% of a core meanwhile); " + ", ".join(marks)
    )
    print(f"backlog: deliveries per second since the receiver came back: {buckets(arrivals, back)}")
    if got < emitted:
        heads = await pending_heads(driver, endpoint_id)
        nudged = time.time()
        for delivery_id in heads:
            await driver.client.post(
                f"/api/v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/retry/"
            )
        spent = time.time() - nudged
        rest = await wait_for(receiver, emitted, 600, every=10)
        print(
            f"backlog: nudged {len(heads)} pending heads via retry/ in {spent:.1f}s; "
            f"{receiver.distinct()}/{emitted} delivered {rest:.1f}s after the nudge began"
        )
    final = await delivery_summary(driver, endpoint_id)
    print(f"backlog: deliveries at the end (all phases): {final}")


def drain(server: Server) -> threading.Thread:
    """Keep reading the server's output so its pipe never fills and blocks it."""

    def pump() -> None:
        assert server.proc is not None
        assert server.proc.stdout is not None
        for line in server.proc.stdout:
            server.output.append(line.rstrip())

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


async def run(server: Server, args: argparse.Namespace, workdir: Path) -> None:
    port = free_port()
    driver = Driver(server, args.concurrency)
    receivers: list[Receiver] = []
    try:
        latency_rx = Receiver(port, workdir / "latency.log")
        receivers.append(latency_rx)
        latency_rx.start()
        r = await driver.client.post("/api/v1/webhook_endpoints/", json={"url": latency_rx.url})
        r.raise_for_status()
        endpoint_id = r.json()["id"]
        print(f"load before={load()}")
        if args.rate > 0:
            await phase_latency(driver, latency_rx, args.rate, args.seconds)
        latency_rx.stop()
        if args.bots > 0:
            rx = Receiver(port, workdir / "throughput.log")
            receivers.append(rx)
            rx.start()
            await phase_throughput(driver, rx, args.bots)
            rx.stop()
            print(f"load after throughput={load()}")
        if args.backlog > 0:
            rx = Receiver(port, workdir / "backlog.log")
            receivers.append(rx)
            await phase_backlog(driver, rx, endpoint_id, args.backlog, args.drain_timeout)
            print(f"load after backlog={load()}")
        if driver.errors:
            print(f"API errors: {driver.errors}")
    finally:
        for rx in receivers:
            rx.stop()
        await driver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20, help="creates/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        asyncio.run(serve_receiver(int(args.receiver[0]), Path(args.receiver[1])))
        return
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_ADHOC_POOL_SIZE": "1000000",
        "MEETBOT_MAX_CONCURRENT_BOTS": "1000000",
        "MEETBOT_HEARTBEAT_TIMEOUT": "1000000",
        "MEETBOT_WEBHOOK_ALLOW_PRIVATE": "1",
        "MEETBOT_LOG_LEVEL": "warning",
    }
    db = None
    if args.postgres:
        db = f"meetbot_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
        env["MEETBOT_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{db}"
    print(f"cpus={os.cpu_count()} backend={'postgresql' if db else 'sqlite'}")
    try:
        with tempfile.TemporaryDirectory(prefix="mb-bench-wh-") as tmp:
            server = start_server(Path(tmp) / "data", env)
            drain(server)
            try:
                asyncio.run(run(server, args, Path(tmp)))
            finally:
                server.stop()
                warnings = [line for line in server.output if "WARNING" in line or "ERROR" in line]
                if warnings:
                    print(f"server logged {len(warnings)} warnings/errors, e.g.:")
                    for line in warnings[:5]:
                        print("  " + line[:300])
    finally:
        if db:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    main()

"""Webhook delivery: event → delivered latency, sustained deliveries/s, draining a backlog.

Starts `meetbot serve` (fake launcher with a huge warm pool: no browsers; SQLite unless
--postgres) and a receiver on 127.0.0.1 in a separate process (``webhooks_receiver.py``: raw
HTTP/1.1 with keep-alive, answers 200 at once, logs arrival time, ``webhook-id``, the event's
``created_at`` and type). One workspace endpoint receives every event; nothing else emits
events (the heartbeat reaper is pushed out with MEETBOT_HEARTBEAT_TIMEOUT).

Phases:

1. latency: ``--rate`` bot creates/s through the API for ``--seconds`` (each emits one
   ``status_update`` → ``booting``); latency = arrival - the event's ``created_at`` (set in the
   emitting transaction, millisecond resolution), p50/p99/max.
2. throughput: ``--bots`` bots are created through the API first (their ``booting`` events are
   delivered before the window opens). Then every bot lives its whole life the way runners
   report it (``webhooks_load.Runners``): one batch of reports per bot to the internal runner
   endpoint, ``--concurrency`` in flight, each applied in one transaction: joining, waiting
   room, in call, ``--participants`` joining and leaving, leaving, left; the media pipeline then
   ends the bot (``processing`` → ``finished``). That is 6 status changes and 2 x participants
   participant events per bot. Printed: events generated/s; *sustained* deliveries/s at the
   receiver while events are being generated (from the first report to the last report
   answered); deliveries/s over the whole delivery window; per-second buckets; latency.
3. backlog: the receiver stops; bots are created and live their lives (as in 2) until about
   ``--backlog`` events wait; the receiver comes back on the same port; time until every event
   arrived, with the arrival curve and deliveries per second. While the receiver is down each
   bot's oldest delivery fails to connect and backs off; once one attempt to the endpoint
   succeeds, the worker brings forward every retry of that endpoint that had failed to connect,
   so the drain is bound by the worker's rate, not by backoff. If not everything arrived within
   ``--drain-timeout`` s, the still pending deliveries already tried are nudged through
   ``POST .../deliveries/{id}/retry/`` and the rest is timed.

    .venv/bin/python bench/webhooks.py [--rate 20 --seconds 20] [--bots 1000]
        [--participants 2] [--backlog 10000] [--drain-timeout 180] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_db import bench_database
from meetbot.lab.serve import Server, free_port, start_server
from webhooks_load import Db, Driver, Runners
from webhooks_receiver import Arrival, Receiver


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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


async def phase_throughput(
    driver: Driver, runners: Runners, receiver: Receiver, bots: int, participants: int
) -> None:
    ids = await driver.create_many(bots)
    runners.arm(ids)
    await wait_for(receiver, len(ids), 120)
    setup = len(receiver.arrivals())
    seq0 = runners.db.max_delivery_seq()
    print(f"throughput: {len(ids)} bots created and delivered (setup); load={load()}")
    driver.cpu.reset()
    began = time.time()
    lived = await runners.live(ids, participants)
    generated_at = time.time()
    still = await runners.wait_ended(120)
    expected = runners.db.deliveries_after(seq0)
    await wait_for(receiver, setup + expected, 300)
    server_cpu = driver.cpu.percent()
    arrivals = sorted(receiver.arrivals()[setup:], key=lambda a: a.at)
    if not arrivals:
        print("throughput: nothing arrived")
        return
    generating = generated_at - began
    during = [a for a in arrivals if a.at <= generated_at]
    window = arrivals[-1].at - began
    lat = [(a.at - a.created) * 1000 for a in arrivals]
    print(
        f"throughput: {lived}/{len(ids)} bots lived (one report batch each, {participants} "
        f"participants; {still} not ended); {expected} events; report batches took "
        f"{generating:.1f}s; {len({a.webhook_id for a in arrivals})} distinct delivered; "
        f"server CPU (all its processes) {server_cpu:.0f}% of a core; load={load()}"
    )
    print(
        f"throughput: SUSTAINED while generating: {len(during)} delivered in {generating:.1f}s = "
        f"{len(during) / generating:.0f} deliveries/s"
    )
    print(
        f"throughput: whole window first report -> last arrival {window:.1f}s = "
        f"{len(arrivals) / window:.0f} deliveries/s; last arrival "
        f"{arrivals[-1].at - generated_at:.1f}s after the last report batch was answered; "
        f"latency_ms p50={pct(lat, 0.5):.0f} p99={pct(lat, 0.99):.0f} max={max(lat):.0f}"
    )
    print(f"throughput: deliveries per 1 s bucket: {buckets(arrivals, began)}")


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
    driver: Driver,
    runners: Runners,
    receiver: Receiver,
    endpoint_id: str,
    backlog: int,
    participants: int,
    drain_timeout: float,
) -> None:
    """``receiver`` is not running yet: the events are made while nothing listens."""
    began = time.monotonic()
    seq0 = runners.db.max_delivery_seq()
    per_bot = 1 + 6 + 2 * participants
    ids = await driver.create_many(max(1, backlog // per_bot))
    runners.arm(ids)
    await runners.live(ids, participants)
    await runners.wait_ended(120)
    emitted = runners.db.deliveries_after(seq0)
    generated = time.monotonic() - began
    print(
        f"backlog: receiver down; {len(ids)} bots created and lived = {emitted} events in "
        f"{generated:.1f}s, errors={driver.errors} {runners.errors}"
    )
    before = await delivery_summary(driver, endpoint_id)
    print(
        "backlog: deliveries by status while down (all phases; listed page by page while "
        f"they move, so approximate): {before}"
    )
    print(f"backlog: load before the receiver comes back={load()}")
    receiver.start()
    back = time.time()
    driver.cpu.reset()
    waited = await wait_for(receiver, emitted, drain_timeout, every=10)
    server_cpu = driver.cpu.percent()
    cpu_ms = driver.cpu.seconds() * 1000 / max(1, receiver.distinct())
    arrivals = sorted(receiver.arrivals(), key=lambda a: a.at)
    got = receiver.distinct()
    marks = []
    for share in (0.1, 0.5, 0.9, 0.99, 1.0):
        need = max(1, int(share * emitted))
        if len(arrivals) >= need:
            marks.append(f"{share:.0%} at {arrivals[need - 1].at - back:.1f}s")
    print(
        f"backlog: receiver back; {got}/{emitted} distinct delivered in {waited:.1f}s = "
        f"{got / waited:.0f}/s (server CPU {server_cpu:.0f}% of a core meanwhile, "
        f"{cpu_ms:.2f} CPU-ms per delivery); " + ", ".join(marks)
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


async def run(server: Server, args: argparse.Namespace, workdir: Path, db: Db) -> None:
    port = free_port()
    driver = Driver(server, args.concurrency)
    runners = Runners(server, db, args.concurrency)
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
            await phase_throughput(driver, runners, rx, args.bots, args.participants)
            rx.stop()
            print(f"load after throughput={load()}")
        if args.backlog > 0:
            rx = Receiver(port, workdir / "backlog.log")
            receivers.append(rx)
            await phase_backlog(
                driver,
                runners,
                rx,
                endpoint_id,
                args.backlog,
                args.participants,
                args.drain_timeout,
            )
            print(f"load after backlog={load()}")
        if driver.errors or runners.errors:
            print(f"API errors: {driver.errors} runner reports: {runners.errors}")
    finally:
        for rx in receivers:
            rx.stop()
        await driver.close()
        await runners.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20, help="creates/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--participants", type=int, default=2, help="per bot, joined and left")
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--drain-timeout", type=float, default=180)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    env: dict[str, Any] = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_ADHOC_POOL_SIZE": "1000000",
        "MEETBOT_MAX_CONCURRENT_BOTS": "1000000",
        "MEETBOT_HEARTBEAT_TIMEOUT": "1000000",
        "MEETBOT_WEBHOOK_ALLOW_PRIVATE": "1",
        "MEETBOT_LOG_LEVEL": "warning",
    }
    with bench_database(args.postgres) as pg_url:
        if pg_url:
            env["MEETBOT_DATABASE_URL"] = pg_url
        print(f"cpus={os.cpu_count()} backend={'postgresql' if pg_url else 'sqlite'}")
        with tempfile.TemporaryDirectory(prefix="mb-bench-wh-") as tmp:
            server = start_server(Path(tmp) / "data", env)
            drain(server)
            try:
                asyncio.run(run(server, args, Path(tmp), Db(Path(tmp) / "data", pg_url)))
            finally:
                server.stop()
                flagged = [
                    i
                    for i, line in enumerate(server.output)
                    if "WARNING" in line or "ERROR" in line
                ]
                if flagged:
                    print(f"server logged {len(flagged)} warnings/errors; the first:")
                    for line in server.output[flagged[0] : flagged[0] + 40]:
                        print("  " + line[:300])


if __name__ == "__main__":
    main()

"""What one bot's life costs the control plane and its database (issue 14: size the database).

Starts a temporary PostgreSQL database, one control plane (``MEETBOT_LAUNCHER=fleet meetbot
serve``) and ``--agents`` simulated agents (``meetbot agent --simulate``: the real runner session
and report channel, a simulated meeting page: joins, is admitted, has participants, stays
``--call`` seconds, then the meeting ends), sends ``--bots`` ad-hoc bots at ``--rate`` per
second, waits until every one has ended, and prints, per bot life (create → ``ended``):

- the control plane's CPU (user + system of its process, read with psutil);
- its database transactions and SQL statements (round trips), from ``/metrics``
  (``meetbot_db_transactions_total``, ``meetbot_db_statements_total``);
- the idle baseline over the same wall time (agents heartbeating and polling, the scheduler),
  measured first and subtracted.

    .venv/bin/python bench/bot_life_cost.py [--bots 100 --agents 2 --call 20 --rate 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from pg_testdb import temporary_database, unavailable_reason  # noqa: E402

from harness.fleet import MEET, Fleet  # noqa: E402
from meetbot.contract import lifecycle  # noqa: E402

ENDED = {status.value for status in lifecycle.ENDED}


def scrape(http: httpx.Client) -> dict[str, float]:
    text = http.get("/metrics").text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("meetbot_db_transactions_total", "meetbot_db_statements_total")):
            name, value = line.split()
            values[name] = float(value)
    return values


class Usage:
    """The control plane's CPU seconds and database counts, from a mark."""

    def __init__(self, pid: int, http: httpx.Client) -> None:
        self.process = psutil.Process(pid)
        self.http = http

    def now(self) -> tuple[float, dict[str, float]]:
        cpu = self.process.cpu_times()
        return cpu.user + cpu.system, scrape(self.http)

    def since(self, mark: tuple[float, dict[str, float]]) -> tuple[float, float, float]:
        cpu, counts = self.now()
        return (
            cpu - mark[0],
            counts["meetbot_db_transactions_total"] - mark[1]["meetbot_db_transactions_total"],
            counts["meetbot_db_statements_total"] - mark[1]["meetbot_db_statements_total"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--call", type=float, default=20.0, help="simulated call length (s)")
    parser.add_argument("--rate", type=float, default=5.0, help="creates per second")
    args = parser.parse_args()
    if (reason := unavailable_reason()) is not None:
        sys.exit(f"PostgreSQL is needed: {reason}")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {vars(args)}")
    settings = {"MEETBOT_SIMULATED_CALL_SECONDS": str(args.call), "MEETBOT_LOG_LEVEL": "warning"}
    per_agent = args.bots // args.agents + 5
    with tempfile.TemporaryDirectory() as tmp, temporary_database("meetbot_bench") as url:
        fleet = Fleet(Path(tmp) / "data", url, settings)
        try:
            server = fleet.replica()
            for n in range(args.agents):
                fleet.agent(f"sim-{n}", slots=per_agent, warm=per_agent, env=settings)
            with fleet.client(server) as http:
                assert server.proc is not None
                usage = Usage(server.proc.pid, http)
                while sum(a["state"] == "live" for a in fleet.agents_list()) < args.agents:
                    time.sleep(0.2)
                time.sleep(2)
                expected_s = args.bots / args.rate + args.call + 10
                mark = usage.now()
                time.sleep(min(expected_s, 30))
                idle_cpu, idle_tx, idle_sql = usage.since(mark)
                idle_per_s = [v / min(expected_s, 30) for v in (idle_cpu, idle_tx, idle_sql)]
                started = time.monotonic()
                mark = usage.now()
                ids = []
                for n in range(args.bots):
                    time.sleep(max(0.0, started + n / args.rate - time.monotonic()))
                    r = http.post("/api/v1/bot/", json={"meeting_url": MEET})
                    if r.status_code == 201:
                        ids.append(r.json()["id"])
                    else:
                        print(f"create: {r.status_code} {r.text[:120]}")
                pending = set(ids)
                while pending and time.monotonic() - started < expected_s + 120:
                    for bot_id in list(pending):
                        r = http.get(f"/api/v1/bot/{bot_id}/")
                        if r.status_code == 200 and r.json()["status"] in ENDED:
                            pending.discard(bot_id)
                    time.sleep(1)
                wall = time.monotonic() - started
                cpu, tx, sql = usage.since(mark)
        finally:
            fleet.stop()
    lives = len(ids) - len(pending)
    base_cpu, base_tx, base_sql = (v * wall for v in idle_per_s)
    print(f"{lives} of {len(ids)} bots ended in {wall:.0f} s ({len(pending)} did not)")
    print(
        f"idle baseline per second: CPU {idle_per_s[0] * 1000:.1f} ms, "
        f"{idle_per_s[1]:.1f} transactions, {idle_per_s[2]:.1f} statements"
    )
    print(
        f"per bot life (baseline subtracted): control-plane CPU "
        f"{(cpu - base_cpu) / lives * 1000:.0f} ms, {(tx - base_tx) / lives:.0f} transactions, "
        f"{(sql - base_sql) / lives:.0f} SQL statements (round trips); "
        f"raw: CPU {cpu / lives * 1000:.0f} ms, {tx / lives:.0f} tx, {sql / lives:.0f} statements"
    )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
